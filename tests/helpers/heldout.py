"""The held-out NLU sets (tests/nlu/*_nlu.yml) as (text, intent, knowledge entry) examples."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import yaml

NLU_DIR = Path(__file__).parent.parent / "nlu"
DEV_SET = NLU_DIR / "dev_nlu.yml"
TEST_SET = NLU_DIR / "test_nlu.yml"


class HeldOut(NamedTuple):
    text: str
    intent: str
    entry: str | None


def held_out(path: Path) -> list[HeldOut]:
    examples = []
    for group in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        entry = (group.get("metadata") or {}).get("entry")
        for line in group["examples"].splitlines():
            if line.strip().startswith("- "):
                examples.append(HeldOut(line.strip()[2:], group["intent"], entry))
    return examples

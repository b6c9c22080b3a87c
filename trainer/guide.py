"""The intent guide (data/intent_guide.yml): a plain name, a description and three examples
for every intent a trainer may choose as a label."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from trainer.project import Project, TrainerError


@dataclass(frozen=True)
class IntentInfo:
    intent: str
    name: str
    description: str
    examples: tuple[str, ...]


def read_guide(project: Project) -> dict[str, IntentInfo]:
    """Intent -> its guide entry, in the file's order."""
    if not project.intent_guide.exists():
        raise TrainerError(f"The intent guide {project.intent_guide} is missing.")
    document = yaml.safe_load(project.intent_guide.read_text(encoding="utf-8")) or {}
    return {
        intent: IntentInfo(
            intent, entry["name"], entry["description"], tuple(str(e) for e in entry["examples"])
        )
        for intent, entry in (document.get("intent_guide") or {}).items()
    }

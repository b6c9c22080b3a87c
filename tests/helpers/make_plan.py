"""What make would do, read from its own dry run."""

from __future__ import annotations

import subprocess

from bot import ROOT


def make_train_plan(*changed: str) -> str:
    """The commands `make train` would run if these files had just changed (make -n -W)."""
    what_if = [f"--what-if={path}" for path in changed]
    result = subprocess.run(
        ["make", "--dry-run", *what_if, "train"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout

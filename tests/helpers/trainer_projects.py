"""Scratch copies of the bot project for trainer tests: tests never edit data/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot import ROOT
from ops.launcher import DEFAULT_MODEL, SERVER_ENV
from trainer.project import Project


def copy_project(dest: Path) -> Project:
    """The repo's data, domain and config in a scratch folder: tests never edit data/."""
    shutil.copytree(ROOT / "data", dest / "data")
    shutil.copytree(ROOT / "tests" / "nlu", dest / "tests" / "nlu")
    for name in ("domain.yml", "config.yml", "endpoints.yml"):
        shutil.copy2(ROOT / name, dest / name)
    return Project(dest)


def snapshot(project: Project) -> dict[str, bytes]:
    files = [*(project.root / "data").rglob("*"), project.domain]
    return {str(p.relative_to(project.root)): p.read_bytes() for p in files if p.is_file()}


def trainer(project: Project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainer", "--root", str(project.root), *args],
        cwd=ROOT, env={**os.environ, **SERVER_ENV}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def project_with_model(dest):
    project = copy_project(dest)
    (project.root / "models").mkdir()
    # Our spaCy pipeline is built at setup; the config refers to it by relative path.
    (project.root / "models" / "spacy").symlink_to(ROOT / "models" / "spacy")
    shutil.copy2(DEFAULT_MODEL, project.model)
    return project

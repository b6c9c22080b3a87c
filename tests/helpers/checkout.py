"""A throwaway checkout of the repo, for running `make run`'s launcher on free ports.

The launcher takes the action server's port from endpoints.yml, as Rasa does, so a test
that runs the real launcher gives it a checkout whose endpoints.yml names a free port.
Code and configuration are copied (the launcher finds the repo from its own path);
environments, models, data and node_modules are linked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from ops.settings import ROOT

COPIED = ("ops", "bot", "actions", "rasa_sdk_plugins", "config.yml", "domain.yml",
          "credentials.yml")  # fmt: skip
LINKED = (".venv", ".venv-actions", "models", "data", "web", "node_modules")


def launcher_checkout(dest: Path, action_port: int) -> Path:
    dest.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    for name in LINKED:
        (dest / name).symlink_to(ROOT / name)
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{action_port}/webhook"
    (dest / "endpoints.yml").write_text(yaml.safe_dump(endpoints))
    return dest

"""The assistant's own engine pieces. ROOT is the repository, where data and models live."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

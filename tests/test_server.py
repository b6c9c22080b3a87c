"""What our channels add to Rasa's web server (bot/channels/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tarfile
import urllib.error

import pytest
from helpers.servers import RestClient, sqlite_bot
from sanic import Sanic

from bot.channels.server import YOUNG_OBJECTS_PER_COLLECTION, _spare_start_up_objects
from ops.settings import MODEL_PATH


def test_once_started_the_server_never_walks_its_start_up_objects_again():
    threshold = gc.get_threshold()
    try:
        asyncio.run(_spare_start_up_objects(Sanic("garbage_collector_test"), None))
        assert gc.get_freeze_count() > 10_000  # Rasa's and the test's own imports
        assert gc.get_threshold() == (YOUNG_OBJECTS_PER_COLLECTION, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.bot
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_server_whose_model_does_not_load_stops_instead_of_answering(tmp_path, workers):
    # Rasa alone would log the error, say "up and running" and answer no message at all.
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(MODEL_PATH) as model, tarfile.open(broken, "w:gz") as copy:
        for member in model.getmembers():
            if not member.name.endswith("weights.npz"):
                copy.addfile(member, model.extractfile(member) if member.isfile() else None)
    server = sqlite_bot(tmp_path / "c.db", tmp_path, model=broken, SANIC_WORKERS=workers)
    try:
        # One process fails its start at once; with workers, Sanic's main process may
        # answer the health check before they stop, and exits once they have.
        with contextlib.suppress(RuntimeError):
            server.start()
        server.supervisor.process("rasa").wait(timeout=60)
        with pytest.raises(urllib.error.URLError):
            RestClient(server.rest_url).send("someone", "my chest feels crushed", timeout=5)
    finally:
        server.stop()
    assert "The model did not load" in (tmp_path / "rasa.log").read_text()

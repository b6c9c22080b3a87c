"""What our channels add to Rasa's web server (bot/channels/server.py)."""

from __future__ import annotations

import asyncio
import gc

from sanic import Sanic

from bot.channels.server import YOUNG_OBJECTS_PER_COLLECTION, _spare_start_up_objects


def test_once_started_the_server_never_walks_its_start_up_objects_again():
    threshold = gc.get_threshold()
    try:
        asyncio.run(_spare_start_up_objects(Sanic("garbage_collector_test"), None))
        assert gc.get_freeze_count() > 10_000  # Rasa's and the test's own imports
        assert gc.get_threshold() == (YOUNG_OBJECTS_PER_COLLECTION, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)

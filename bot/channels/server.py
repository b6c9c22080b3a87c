"""What our channels add to Rasa's web server, whichever of them is configured.

- Request bodies are limited (MAX_REQUEST_BYTES): larger ones get 413 before any channel
  reads them.
- Errors are JSON, so clients never get an HTML page or a stack trace.
- `/` no longer announces the Rasa version.
- A server whose model did not load stops instead of serving: Rasa would go on, "up and
  running", and answer nothing, not even an emergency.
- Once the model is loaded, the garbage collector leaves the start-up objects alone.
"""

from __future__ import annotations

import gc

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from ops.settings import current

# Collections of the youngest objects run every this many new objects, not Python's 700:
# a turn makes a few thousand, and under 10 users the 700 cost over 1 ms a turn in more
# than one collection a turn; 10,000 cost 0.3 ms.
YOUNG_OBJECTS_PER_COLLECTION = 10_000


async def _no_banner(request: Request) -> HTTPResponse | None:
    if request.path == "/":
        return response.json({"status": "ok"})
    return None


async def _configure(app: Sanic, _loop: object) -> None:
    if getattr(app.ctx, "channels_configured", False):
        return
    app.ctx.channels_configured = True
    app.config.REQUEST_MAX_SIZE = current().limits.max_request_bytes
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.register_middleware(_no_banner, "request")


class ModelNotLoaded(RuntimeError):
    """Raised as the server starts: Rasa logged why the model did not load."""


async def _refuse_to_serve_without_a_model(app: Sanic, _loop: object) -> None:
    agent = getattr(app.ctx, "agent", None)
    if agent is None or not agent.is_ready():
        raise ModelNotLoaded("The model did not load (the error is above); not serving.")


async def _spare_start_up_objects(app: Sanic, _loop: object) -> None:
    """Rasa loads the model before the server starts. The 550,000 objects there by then
    (Rasa, TensorFlow, spaCy) live as long as the process, yet every full collection
    walked them all, 260 ms each, while every conversation waited. Frozen, they are
    never walked again."""
    if getattr(app.ctx, "start_up_objects_frozen", False):
        return
    app.ctx.start_up_objects_frozen = True
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, older, oldest)


def configure_server(blueprint: Blueprint) -> None:
    """Apply the above once the server starts; every channel calls it, the first one wins."""
    blueprint.listener("before_server_start")(_configure)
    blueprint.listener("after_server_start")(_refuse_to_serve_without_a_model)
    blueprint.listener("after_server_start")(_spare_start_up_objects)

"""What our channels add to Rasa's web server, whichever of them is configured.

- Request bodies are limited (MAX_REQUEST_BYTES): larger ones get 413 before any channel
  reads them.
- Errors are JSON, so clients never get an HTML page or a stack trace.
- `/` no longer announces the Rasa version.
"""

from __future__ import annotations

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from ops.settings import current


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


def configure_server(blueprint: Blueprint) -> None:
    """Apply the above once the server starts; every channel calls it, the first one wins."""
    blueprint.listener("before_server_start")(_configure)

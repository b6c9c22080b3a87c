"""Our guard on the action server, through rasa_sdk's own plugin hook.

rasa_sdk (3.6) imports a top-level package named `rasa_sdk_plugins` when it starts and
lets it attach Sanic middleware; `rasa run actions` and `python -m rasa_sdk` in the repo
both load this one. It makes the action server answer only callers it can trust:
- with ACTION_SERVER_TOKEN set, every request must carry it in the X-Action-Token header
  (endpoints.yml's action endpoint then sends it: see the README);
- without it, only callers on this machine (loopback) are served.
Anyone else gets 403 and runs nothing. Health checks stay open.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

import pluggy
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

TOKEN_HEADER = "X-Action-Token"
OPEN_PATHS = {"/health"}
hookimpl = pluggy.HookimplMarker("rasa_sdk")


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def trusted(path: str, caller_ip: str, sent_token: str, token: str | None) -> bool:
    """Whether a request may run actions: health checks, the token, or loopback."""
    if path in OPEN_PATHS:
        return True
    if token:
        return hmac.compare_digest(sent_token.encode(), token.encode())
    return is_loopback(caller_ip)


async def require_trusted_caller(request: Request) -> HTTPResponse | None:
    token = os.environ.get("ACTION_SERVER_TOKEN") or None
    if trusted(request.path, request.ip, request.headers.get(TOKEN_HEADER, ""), token):
        return None
    return response.json({"error": "forbidden"}, status=403)


class ActionServerGuard:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        app.register_middleware(require_trusted_caller, "request")


def init_hooks(manager: pluggy.PluginManager) -> None:
    manager.register(ActionServerGuard())

"""The trainer's web workbench: inbox, add example, evaluation report, retrain button.

Small on purpose: Python's threaded http.server and server-rendered forms. Every change
calls the same functions as the CLI (add_example, Inbox.label/dismiss, evaluate).
Access needs TRAINER_PASSWORD: a login form sets a session cookie, and API clients send
`Authorization: Bearer <password>`. Without a password the server starts only on
localhost with --dev-no-password.
"""

from __future__ import annotations

import hmac
import html
import json
import os
import re
import secrets
import sys
import threading
import urllib.parse
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from trainer.evaluation import evaluate, last_report
from trainer.examples import add_example, domain_names
from trainer.inbox import Inbox
from trainer.project import Project, TrainerError

LOCALHOST = {"127.0.0.1", "localhost", "::1"}
MAX_BODY = 64 * 1024
COOKIE = "trainer_session"
STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:1rem auto;padding:0 1rem;color:#222}
nav a{margin-right:1rem} table{border-collapse:collapse;width:100%} td,th{padding:.3rem .5rem;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.ok{background:#e6f4ea;padding:.5rem}
.error{background:#fde7e9;padding:.5rem;white-space:pre-wrap} .muted{color:#777} img{max-width:100%}
form.inline{display:inline} input[type=text],input[type=password]{width:30rem;max-width:100%}
"""


class EvaluationJob:
    """At most one retrain-and-evaluate at a time, run in the background, with progress."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.lock = threading.Lock()
        self.running = False
        self.message = ""
        self.error = ""

    def start(self) -> bool:
        with self.lock:
            if self.running:
                return False
            self.running, self.message, self.error = True, "Starting…", ""
        threading.Thread(target=self._run, daemon=True).start()
        return True

    def _run(self) -> None:
        try:
            result = evaluate(self.project, progress=self._progress)
            verdict = "passed" if result.passed else "FAILED"
            self.message = f"Done: macro F1 {result.macro_f1:.4f}, gate {verdict}."
        except (TrainerError, OSError) as error:
            self.error = str(error)
        finally:
            self.running = False

    def _progress(self, message: str) -> None:
        self.message = message

    def status(self) -> dict:
        return {"running": self.running, "message": self.message, "error": self.error}


class Workbench:
    def __init__(self, project: Project, password: str | None, db_url: str | None) -> None:
        self.project = project
        self.password = password
        self.inbox = Inbox(project, db_url)
        self.sessions: set[str] = set()
        self.job = EvaluationJob(project)

    def intents(self) -> list[str]:
        return domain_names(yaml.safe_load(self.project.domain.read_text()), "intents")


def page(title: str, body: str, notice: str = "", ok: bool = True, refresh: bool = False) -> str:
    note = f'<p class="{"ok" if ok else "error"}" role="status">{html.escape(notice)}</p>'
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title} · Trainer</title>"
        + ('<meta http-equiv="refresh" content="2">' if refresh else "")
        + f"<style>{STYLE}</style></head><body><nav><a href='/'>Inbox</a><a href='/add'>Add example"
        + "</a><a href='/report'>Evaluation</a><form class=inline method=post action='/logout'>"
        + f"<button>Log out</button></form></nav><h1>{title}</h1>"
        + (note if notice else "")
        + body
        + "</body></html>"
    )


def intent_picker(intents: list[str], selected: str = "", name: str = "intent") -> str:
    options = "".join(
        f"<option{' selected' if i == selected else ''}>{html.escape(i)}</option>" for i in intents
    )
    return f'<select name="{name}" aria-label="intent">{options}</select>'


class Handler(BaseHTTPRequestHandler):
    server_version = "TrainerWorkbench"
    workbench: Workbench  # set by make_server

    # --- plumbing -----------------------------------------------------------------------
    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Frame-Options", "DENY")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_html(self, text: str, status: int = 200, headers: dict | None = None) -> None:
        self.send(status, text.encode(), "text/html; charset=utf-8", headers)

    def send_json(self, data, status: int = 200) -> None:
        self.send(status, json.dumps(data).encode(), "application/json")

    def redirect(self, path: str, notice: str = "", ok: bool = True) -> None:
        query = urllib.parse.urlencode({"notice": notice, "ok": int(ok)}) if notice else ""
        self.send(303, b"", "text/plain", {"Location": path + (f"?{query}" if query else "")})

    def read_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise TrainerError("The request is too large.")
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        if self.headers.get("Content-Type", "").startswith("application/json"):
            data = json.loads(raw or "{}")
            if not isinstance(data, dict):
                raise TrainerError("Send a JSON object.")
            return data
        return {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

    def authorized(self) -> bool:
        password = self.workbench.password
        if password is None:
            return True
        bearer = self.headers.get("Authorization", "")
        if bearer.startswith("Bearer ") and hmac.compare_digest(
            bearer[7:].encode(), password.encode()
        ):
            return True
        morsel = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
        return bool(morsel) and morsel.value in self.workbench.sessions

    def login_form(self, status: int = 401, notice: str = "") -> None:
        error = f'<p class="error">{html.escape(notice)}</p>' if notice else ""
        self.send_html(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Log in · Trainer"
            f"</title><style>{STYLE}</style></head><body><h1>Trainer workbench</h1>{error}"
            "<form method=post action='/login'><label>Password <input type=password "
            "name=password autofocus></label> <button>Log in</button></form></body></html>",
            status,
        )

    # --- routing ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.route("GET")

    def do_HEAD(self) -> None:
        self.route("GET")

    def do_POST(self) -> None:
        self.route("POST")

    def route(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, dict(urllib.parse.parse_qsl(url.query))
        api = path.startswith("/api/")
        try:
            if path == "/login":
                return self.login(method)
            if not self.authorized():
                if api:
                    return self.send_json({"error": "Log in or send the trainer token."}, 401)
                return self.login_form()
            handler = self.routes(method, path)
            if handler is None:
                if api:
                    return self.send_json({"error": "Not found."}, 404)
                return self.send_html(page("Not found", ""), 404)
            return handler(query)
        except TrainerError as error:
            if api:
                return self.send_json({"error": str(error)}, 400)
            back = {"/add": "/add", "/evaluate": "/report"}.get(path, "/")
            return self.redirect(back, str(error), ok=False)
        except (ValueError, json.JSONDecodeError) as error:
            return self.send_json({"error": f"Bad request: {error}"}, 400)

    def routes(self, method: str, path: str):
        item = re.fullmatch(r"(/api)?/inbox/([0-9a-f]{1,40})/(label|dismiss)", path)
        if method == "POST" and item:
            api, item_id, action = item.groups()
            return lambda _: self.review(item_id, action, api=bool(api))
        return {
            ("GET", "/"): self.inbox_page,
            ("GET", "/add"): self.add_page,
            ("GET", "/report"): self.report_page,
            ("GET", "/report/confusion.png"): self.confusion_png,
            ("GET", "/api/inbox"): lambda _: self.send_json(
                [i.as_dict() for i in self.workbench.inbox.items()]
            ),
            ("GET", "/api/report"): lambda _: self.send_json(last_report(self.workbench.project)),
            ("GET", "/api/evaluate"): lambda _: self.send_json(self.workbench.job.status()),
            ("POST", "/add"): lambda _: self.add(api=False),
            ("POST", "/api/examples"): lambda _: self.add(api=True),
            ("POST", "/evaluate"): lambda _: self.start_evaluation(api=False),
            ("POST", "/api/evaluate"): lambda _: self.start_evaluation(api=True),
            ("POST", "/logout"): self.logout,
        }.get((method, path))

    # --- auth ---------------------------------------------------------------------------
    def login(self, method: str) -> None:
        if method == "GET" or self.workbench.password is None:
            return self.login_form(200) if method == "GET" else self.redirect("/")
        given = str(self.read_body().get("password", ""))
        if not hmac.compare_digest(given.encode(), self.workbench.password.encode()):
            return self.login_form(401, "Wrong password.")
        token = secrets.token_urlsafe(32)
        self.workbench.sessions.add(token)
        cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        self.send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})

    def logout(self, _query) -> None:
        morsel = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
        if morsel:
            self.workbench.sessions.discard(morsel.value)
        self.send(
            303,
            b"",
            "text/plain",
            {"Location": "/login", "Set-Cookie": f"{COOKIE}=; Max-Age=0; Path=/"},
        )

    # --- pages --------------------------------------------------------------------------
    def inbox_page(self, query: dict) -> None:
        items = self.workbench.inbox.items()
        intents = self.workbench.intents()
        rows = []
        for item in items:
            text = item.text if len(item.text) <= 200 else item.text[:199] + "…"
            predicted = (
                "fallback (best guess " + item.intent + ")" if item.fallback else item.intent
            )
            rows.append(
                f'<tr data-id="{item.id}"><td class="text">{html.escape(text)}</td>'
                f"<td>{item.count}</td><td>{html.escape(predicted)}</td>"
                f"<td>{item.confidence:.2f}</td><td>"
                f'<form class=inline method=post action="/inbox/{item.id}/label">'
                f"{intent_picker(intents, item.intent)} <button>Label</button></form> "
                f'<form class=inline method=post action="/inbox/{item.id}/dismiss">'
                "<button>Dismiss</button></form></td></tr>"
            )
        table = (
            "<table><tr><th>Message</th><th>Times</th><th>Bot understood</th><th>Confidence</th>"
            "<th>Review</th></tr>" + "".join(rows) + "</table>"
            if rows
            else "<p>The inbox is empty: nothing the bot misunderstood is waiting.</p>"
        )
        intro = (
            "<p class=muted>Messages the bot was unsure about, newest first. Pick the intent "
            "the user meant and press Label, or Dismiss what should not be learned.</p>"
        )
        self.send_html(
            page("Inbox", intro + table, query.get("notice", ""), query.get("ok") == "1")
        )

    def add_page(self, query: dict) -> None:
        form = (
            "<form method=post action='/add'><p><label>Intent "
            f"{intent_picker(self.workbench.intents())}</label> or a new intent "
            "<input type=text name=new_intent placeholder='new_intent_name' style='width:14rem'>"
            "</p><p><label>Example <input type=text name=text required maxlength=300 "
            "placeholder='what a user would type'></label></p><p><label>Entities "
            "<input type=text name=entities placeholder='topic=posture, duration=3 days'>"
            "</label></p><p><button>Add example</button></p></form>"
        )
        self.send_html(page("Add example", form, query.get("notice", ""), query.get("ok") == "1"))

    def report_page(self, query: dict) -> None:
        status = self.workbench.job.status()
        parts = []
        if status["running"]:
            parts.append(f"<p class=ok id=progress>{html.escape(status['message'])}</p>")
        elif status["error"]:
            parts.append(f"<p class=error id=progress>{html.escape(status['error'])}</p>")
        elif status["message"]:
            parts.append(f"<p class=ok id=progress>{html.escape(status['message'])}</p>")
        parts.append(
            "<form method=post action='/evaluate'><button "
            + ("disabled" if status["running"] else "")
            + ">Retrain and evaluate</button></form>"
        )
        report = last_report(self.workbench.project)
        if report is None:
            parts.append("<p>No evaluation yet.</p>")
        else:
            verdict = "passed" if report["passed"] else "FAILED"
            parts.append(
                f"<p id=summary>{html.escape(report['finished_at'])}: intent macro F1 "
                f"<b>{report['macro_f1']:.4f}</b>, baseline {report['baseline']:.4f} "
                f"(allowed drop {report['allowed_drop']:.2f}); quality gate <b>{verdict}</b>.</p>"
            )
            rows = "".join(
                f"<tr><td>{html.escape(i)}</td><td>{s['precision']:.2f}</td>"
                f"<td>{s['recall']:.2f}</td><td>{s['f1']:.2f}</td><td>{s['support']}</td></tr>"
                for i, s in sorted(report["per_intent"].items())
            )
            parts.append(
                "<h2>Per intent</h2><table><tr><th>Intent</th><th>Precision</th><th>Recall</th>"
                f"<th>F1</th><th>Support</th></tr>{rows}</table><h2>Most confused</h2><ul>"
                + "".join(
                    f"<li>{html.escape(p['intent'])} taken for {html.escape(p['predicted'])}: "
                    f"{p['count']}</li>"
                    for p in report["confused_pairs"]
                )
                + "</ul><h2>Confusion matrix</h2>"
                '<img src="/report/confusion.png" alt="intent confusion matrix">'
            )
        self.send_html(
            page(
                "Evaluation",
                "".join(parts),
                query.get("notice", ""),
                query.get("ok") == "1",
                refresh=status["running"],
            )
        )

    def confusion_png(self, _query) -> None:
        path = self.workbench.project.report_dir / "intent_confusion_matrix.png"
        if not path.exists():
            return self.send_html(page("Not found", "<p>No evaluation yet.</p>"), 404)
        self.send(200, path.read_bytes(), "image/png")

    # --- actions (the same functions as the CLI) ----------------------------------------
    def review(self, item_id: str, action: str, api: bool) -> None:
        inbox = self.workbench.inbox
        if action == "label":
            intent = str(self.read_body().get("intent", ""))
            added = inbox.label(item_id, intent, reviewer="web")
            notice = f"Added “{added.line}” to {added.intent} ({added.file.name})."
        else:
            item = inbox.dismiss(item_id, reviewer="web")
            notice = f"Dismissed “{item.text[:80]}”."
        if api:
            return self.send_json({"ok": True, "message": notice})
        self.redirect("/", notice)

    def add(self, api: bool) -> None:
        body = self.read_body()
        new_intent = str(body.get("new_intent") or "").strip()
        entities = body.get("entities") or []
        if isinstance(entities, str):
            entities = [e for e in (part.strip() for part in entities.split(",")) if e]
        added = add_example(
            self.workbench.project,
            new_intent or str(body.get("intent", "")),
            str(body.get("text", "")),
            [str(e) for e in entities],
            new_intent=bool(new_intent) or body.get("new_intent") is True,
        )
        notice = f"Added “{added.line}” to {added.intent} ({added.file.name})."
        if added.new_intent:
            notice += " New intent: give it a rule or story before retraining."
        if api:
            return self.send_json({"ok": True, "message": notice}, 201)
        self.redirect("/add", notice)

    def start_evaluation(self, api: bool) -> None:
        started = self.workbench.job.start()
        if api:
            return self.send_json(self.workbench.job.status(), 202 if started else 409)
        self.redirect("/report")


def make_server(
    project: Project, host: str, port: int, password: str | None, db_url: str | None = None
) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"workbench": Workbench(project, password, db_url)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(project: Project, host: str, port: int, db_url: str | None, dev: bool) -> int:
    password = os.environ.get("TRAINER_PASSWORD") or None
    if password is None and not (dev and host in LOCALHOST):
        print(
            "Refusing to start: set TRAINER_PASSWORD (trainers log in with it; API clients send "
            "it as a Bearer token). For local development only: --dev-no-password on localhost.",
            file=sys.stderr,
        )
        return 2
    server = make_server(project, host, port, password, db_url)
    shown = "localhost" if host in LOCALHOST else host
    print(f"Trainer workbench: http://{shown}:{server.server_address[1]}/", flush=True)
    if password is None:
        print("Development mode: no password, localhost only.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopping.")
    finally:
        server.server_close()
    return 0

"""The trainer's web workbench: inbox, add example, history with undo, retrain and promote.

Small on purpose: Python's threaded http.server, pages rendered here, and one script
(static/workbench.js) that sends forms without reloading the page and shows progress.
Every change calls the same functions as the CLI (Inbox.add/label/dismiss/undo, retrain).
Access needs TRAINER_PASSWORD: the login page sets a session cookie with the trainer's
name (the history says who did what), and API clients send
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
import traceback
import urllib.parse
from datetime import datetime, timezone
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from trainer.evaluation import last_report
from trainer.guide import IntentInfo, read_guide
from trainer.inbox import Inbox, InboxItem
from trainer.project import Project, TrainerError
from trainer.promotion import read_live, retrain

LOCALHOST = {"127.0.0.1", "localhost", "::1"}
MAX_BODY = 64 * 1024
COOKIE = "trainer_session"
STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {"workbench.css": "text/css; charset=utf-8",
                "workbench.js": "text/javascript; charset=utf-8"}  # fmt: skip
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# What the words on the pages mean, shown where they appear.
TERMS = {
    "confidence": "How sure the bot was, from 0% to 100%.",
    "fallback": "Below 40% sure, the bot does not guess: it says it did not understand "
    "(its “fallback” reply).",
    "macro F1": "One score from 0 to 1 for how well the bot tells the intents apart in test "
    "sentences it never learned from. Higher is better.",
    "allowed drop": "How much lower than the agreed score (the baseline) a new model may "
    "score and still go live.",
    "precision": "Of the sentences the bot put in this intent, the share that belonged there.",
    "recall": "Of the sentences that belong in this intent, the share the bot found.",
    "F1": "Precision and recall in one number, from 0 to 1.",
    "support": "How many test sentences belong to this intent.",
    "safety": "Share of safety test cases the bot handles right, by kind. A new model may "
    "not do worse than the live one (the floor).",
}


def explain(term: str) -> str:
    name = html.escape(term[0].upper() + term[1:])
    return f'<p class="hint"><b>{name}:</b> {html.escape(TERMS[term])}</p>'


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class RetrainJob:
    """At most one retrain at a time, run in the background, with progress."""

    def __init__(self, project: Project, inbox: Inbox) -> None:
        self.project = project
        self.inbox = inbox
        self.lock = threading.Lock()
        self.running = False
        self.message = ""
        self.error = ""
        self.result: dict | None = None

    def start(self) -> bool:
        with self.lock:
            if self.running:
                return False
            self.running, self.message, self.error = True, "Starting…", ""
        threading.Thread(target=self._run, daemon=True).start()
        return True

    def _run(self) -> None:
        try:
            self.result = retrain(self.project, self.inbox.journal, self._progress).as_dict()
        except (TrainerError, OSError, RuntimeError, TimeoutError) as error:
            self.error = f"The retrain stopped: {error}\nThe live model was not changed."
        except Exception:  # noqa: BLE001 - the page must say it stopped, not spin forever
            traceback.print_exc()
            self.error = (
                "The retrain stopped on an error (see the workbench's log). "
                "The live model was not changed."
            )
        finally:
            self.running = False

    def _progress(self, message: str) -> None:
        self.message = message

    def status(self) -> dict:
        return {"running": self.running, "message": self.message, "error": self.error,
                "result": self.result, "html": result_box(self.result)}  # fmt: skip


class Workbench:
    def __init__(self, project: Project, password: str | None, db_url: str | None) -> None:
        self.project = project
        self.password = password
        self.inbox = Inbox(project, db_url)
        self.sessions: dict[str, str] = {}  # token -> the trainer's name
        self.job = RetrainJob(project, self.inbox)

    def guide(self) -> dict[str, IntentInfo]:
        return read_guide(self.project)


NAV = [("/", "Inbox"), ("/add", "Add example"), ("/history", "History"),
       ("/model", "Model"), ("/intents", "Intents")]  # fmt: skip


def page(title: str, body: str, path: str, who: str = "") -> str:
    links = "".join(
        f'<li><a href="{href}"{" aria-current=page" if href == path else ""}>{name}</a></li>'
        for href, name in NAV
    )
    signed = f"<span class=hint>Signed in as {html.escape(who)}</span>" if who else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Trainer workbench</title>"
        '<link rel=stylesheet href="/static/workbench.css"></head><body>'
        "<header><div class=bar><span class=brand>Trainer workbench</span>"
        f'<nav aria-label="Pages"><ul>{links}</ul></nav>{signed}'
        '<form method=post action="/logout"><button>Log out</button></form></div></header>'
        f"<main><h1>{html.escape(title)}</h1>{body}</main>"
        '<script src="/static/workbench.js"></script></body></html>'
    )


def guide_json(guide: dict[str, IntentInfo]) -> str:
    data = {i.intent: {"name": i.name, "description": i.description,
                       "examples": list(i.examples)} for i in guide.values()}  # fmt: skip
    # Inside <script>, "</" must not appear; JSON allows escaping it.
    text = json.dumps(data).replace("</", "<\\/")
    return f'<script type="application/json" id="intent-guide">{text}</script>'


def intent_picker(guide: dict[str, IntentInfo], field_id: str, selected: str = "") -> str:
    """A required choice with nothing chosen at first; the hint below explains the choice."""
    options = "".join(
        f'<option value="{i.intent}"{" selected" if i.intent == selected else ""}>'
        f"{html.escape(i.name)} ({i.intent})</option>"
        for i in guide.values()
    )
    chosen = guide.get(selected)
    hint = (
        f"{chosen.description} For example: “{'”, “'.join(chosen.examples)}”."
        if chosen
        else "Pick the intent that says what the person wanted."
    )
    return (
        f'<label for="{field_id}">What did the person want?</label>'
        f'<select id="{field_id}" name="intent" required data-intent '
        f'aria-describedby="{field_id}-help"><option value="">Choose…</option>{options}</select>'
        f'<p class="intent-help" id="{field_id}-help">{html.escape(hint)}</p>'
    )


def describe(item: InboxItem) -> str:
    """What happened to the message, in words."""
    if item.thumbs_down:
        why = {"wrong_topic": "wrong topic", "no_answer": "didn't answer",
               "hard_to_read": "hard to read", "other": "other"}.get(item.reason, "")  # fmt: skip
        return "A user said the answer was not helpful 👎" + (f": {why}" if why else "")
    if item.fallback:
        return f"Not understood: the bot was only {item.confidence:.0%} sure, so it did not answer"
    return f"Answered, but the bot was only {item.confidence:.0%} sure: check it was right"


def inbox_card(item: InboxItem, guide: dict[str, IntentInfo], notice: str = "",
               warnings: list[str] | None = None, chosen: str = "") -> str:  # fmt: skip
    guess = guide.get(item.intent)
    guess_words = f"{guess.name} ({item.intent})" if guess else (item.intent or "nothing")
    turns = "".join(
        f"<li{' class=this' if turn.get('this') else ''}>"
        f"<b>{'User' if turn['who'] == 'user' else 'Bot'}:</b> "
        f"{html.escape(turn['text'][:300])}</li>"
        for turn in item.context
    )
    context = (
        f'<ol class="context" aria-label="The conversation around it">{turns}</ol>' if turns else ""
    )
    warning_box = ""
    if warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
        warning_box = (
            "<div class='notice warning'><p>Please check before you go on:</p>"
            f"<ul>{items}</ul><p>To label it anyway, press Label again.</p></div>"
        )
    kind = "error" if notice else ""
    status = f'<p class="notice {kind}" data-status aria-live=polite>{html.escape(notice)}</p>'
    field_id = f"intent-{item.id}"
    return (
        f'<article class="card" data-item="{item.id}" '
        f'aria-label="Message: {html.escape(item.text[:60])}"><p>'
        f'<span class="badge{" down" if item.thumbs_down else ""}">'
        f"{html.escape(describe(item))}</span></p>"
        f'<p class="message">“{html.escape(item.text[:300])}”</p>'
        f'<p class="hint">Said {item.count} time(s), last on {when(item.last_seen)}. '
        f"The bot's best guess: {html.escape(guess_words)}.</p>{context}"
        f'{warning_box}{status}<div class="actions">'
        f'<form method=post action="/inbox/{item.id}/label" data-async data-done=remove '
        'data-working="Checking and saving…">'
        f"{intent_picker(guide, field_id, chosen)}"
        f'<input type=hidden name=confirm value="{"1" if warnings else ""}">'
        "<button class=primary>Label</button></form>"
        f'<form method=post action="/inbox/{item.id}/dismiss" data-async data-done=remove '
        'data-working="Saving…"><button>Dismiss (nothing to learn)</button></form></div></article>'
    )


def live_panel(project: Project) -> str:
    live = read_live(project)
    if live is None:
        if not project.model.exists():
            return "<div class=card><p>No live model yet. Retrain to make one.</p></div>"
        built = when(project.model.stat().st_mtime)
        return (
            f"<div class=card id=live><p><b>Live model:</b> {project.model.name}, built by a "
            f"developer on {built}.</p><p class=hint>No scores are recorded for it yet; "
            "the first retrain measures it.</p></div>"
        )
    safety = ", ".join(f"{name} {value:.0%}" for name, value in (live.get("safety") or {}).items())
    return (
        f"<div class=card id=live><p><b>Live model:</b> {html.escape(live['model'])}, live since "
        f"{html.escape(live['since'])}.</p><p>Test score (macro F1): <b>{live['macro_f1']:.3f}</b>."
        f" Safety: {html.escape(safety or 'not measured')}.</p>"
        "<p class=hint>The bot answers with this model. A retrain makes a new one; it "
        "replaces this only if it passes both checks.</p></div>"
    )


def report_html(report: dict | None) -> str:
    """The last NLU test results: the gate's verdict, per-intent scores, confusions."""
    if report is None:
        return "<p>No test results yet.</p>"
    verdict = "passed" if report["passed"] else "did not pass"
    parts = [
        f"<h2>Last test results</h2><p id=summary>{html.escape(report['finished_at'])}, "
        f"model {html.escape(report.get('model', ''))}: macro F1 "
        f"<b>{report['macro_f1']:.4f}</b>, baseline {report['baseline']:.4f}, allowed "
        f"drop {report['allowed_drop']:.2f}: the check <b>{verdict}</b>.</p>"
        + explain("macro F1")
        + explain("allowed drop")
    ]
    rows = "".join(
        f"<tr><td>{html.escape(i)}</td><td>{s['precision']:.2f}</td>"
        f"<td>{s['recall']:.2f}</td><td>{s['f1']:.2f}</td><td>{s['support']}</td></tr>"
        for i, s in sorted(report["per_intent"].items())
    )
    parts.append(
        "<h2>Per intent</h2>"
        + "".join(explain(t) for t in ("precision", "recall", "F1", "support"))
        + "<div class=table-wrap><table><thead><tr><th>Intent</th><th>Precision</th>"
        f"<th>Recall</th><th>F1</th><th>Support</th></tr></thead><tbody>{rows}"
        "</tbody></table></div><h2>Most confused</h2><ul>"
        + "".join(
            f"<li>{html.escape(p['intent'])} taken for {html.escape(p['predicted'])}: "
            f"{p['count']}</li>"
            for p in report["confused_pairs"]
        )
        + "</ul><h2>Confusion matrix</h2><p class=hint>Rows: the right intent; "
        "columns: what the bot chose. Numbers off the diagonal are mistakes.</p>"
        # The report's time in the URL: a new matrix is never the browser's cached old one.
        f'<img src="/report/confusion.png?at={urllib.parse.quote(report["finished_at"])}" '
        'alt="Confusion matrix: for each intent, how many test sentences the bot put in each '
        'intent">'
    )
    return "".join(parts)


def result_box(result: dict | None) -> str:
    """A retrain's outcome: red with the reasons when a gate failed, green when promoted."""
    if not result:
        return ""
    kind = "ok" if result["promoted"] else "failed"
    parts = [f"<p><b>{html.escape(result['headline'])}</b></p>"]
    if result["worse_intents"]:
        rows = "".join(
            f"<li>{html.escape(w['intent'])}: {w['before']:.2f} → {w['after']:.2f}</li>"
            for w in result["worse_intents"]
        )
        parts.append(f"<p>Intents that got worse (F1 before → after):</p><ul>{rows}</ul>")
    if result["safety_worse"]:
        rows = "".join(f"<li>{html.escape(line)}</li>" for line in result["safety_worse"])
        parts.append(f"<p>Safety checks that got worse:</p><ul>{rows}</ul>")
    if result["suspects"] and not result["promoted"]:
        rows = "".join(
            f"<li>“{html.escape(s['text'])}” taught as {html.escape(s['intent'])} by "
            f"{html.escape(s['who'])} ({when(s['at'])}, change {s['id']})</li>"
            for s in result["suspects"]
        )
        parts.append(
            f"<p>Changes that probably caused it:</p><ul>{rows}</ul>"
            '<p><a href="/history">Open the history to undo them</a></p>'
        )
    if result["bots"]:
        told = "".join(f"<li>{html.escape(line)}</li>" for line in result["bots"])
        parts.append(f"<p>The running bots:</p><ul>{told}</ul>")
    parts.append(f"<p><b>What to do next:</b> {html.escape(result['next_step'])}</p>")
    role = "status" if result["promoted"] else "alert"
    return f'<div class="notice {kind}" role="{role}" id="outcome">{"".join(parts)}</div>'


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
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_html(self, text: str, status: int = 200, headers: dict | None = None) -> None:
        self.send(status, text.encode(), "text/html; charset=utf-8", headers)

    def send_json(self, data, status: int = 200) -> None:
        self.send(status, json.dumps(data).encode(), "application/json")

    def wants_json(self, api: bool) -> bool:
        return api or "application/json" in self.headers.get("Accept", "")

    def redirect(self, path: str) -> None:
        self.send(303, b"", "text/plain", {"Location": path})

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

    def session_name(self) -> str | None:
        """The signed-in trainer's name; "api" for a bearer token; None when not signed in."""
        password = self.workbench.password
        if password is None:
            return "local trainer"
        bearer = self.headers.get("Authorization", "")
        if bearer.startswith("Bearer ") and hmac.compare_digest(
            bearer[7:].encode(), password.encode()
        ):
            return "api"
        morsel = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
        return self.workbench.sessions.get(morsel.value) if morsel else None

    def login_form(self, status: int = 401, notice: str = "", name: str = "") -> None:
        error = f'<p class="notice error" role=alert>{html.escape(notice)}</p>' if notice else ""
        self.send_html(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            "<title>Log in · Trainer workbench</title>"
            '<link rel=stylesheet href="/static/workbench.css"></head><body><main class=login>'
            "<div class=card><h1>Trainer workbench</h1><p>Here you teach the back-pain "
            "assistant: look at what it did not understand, add examples, and retrain it."
            f"</p>{error}<form method=post action='/login'>"
            "<label for=name>Your name</label><input type=text id=name name=name required "
            f'autocomplete=name maxlength=80 value="{html.escape(name)}" '
            "aria-describedby=name-hint><p class=hint id=name-hint>The history shows who "
            "made each change.</p>"
            "<label for=password>Password</label><input type=password id=password "
            "name=password required autocomplete=current-password>"
            "<p><button class=primary>Log in</button></p></form>"
            "<p class=hint>No password? Ask the person who runs the assistant.</p>"
            "</div></main></body></html>",
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
        path = url.path
        api = path.startswith("/api/")
        try:
            if path == "/login":
                return self.login(method)
            if method == "GET" and path.startswith("/static/"):
                return self.static(path.removeprefix("/static/"))
            self.who, self.posted = self.session_name(), {}
            if self.who is None:
                if api:
                    return self.send_json({"error": "Log in or send the trainer token."}, 401)
                return self.login_form()
            handler = self.routes(method, path)
            if handler is None:
                if api:
                    return self.send_json({"error": "Not found."}, 404)
                return self.send_html(page("Not found", "", path, self.who), 404)
            return handler()
        except TrainerError as error:
            if self.wants_json(api):
                return self.send_json({"error": str(error)}, 400)
            return self.show_error(path, str(error))
        except (ValueError, json.JSONDecodeError) as error:
            return self.send_json({"error": f"Bad request: {error}"}, 400)
        except Exception:  # noqa: BLE001 - a page that fails says so instead of hanging up
            self.log_error("%s %s failed:\n%s", method, path, traceback.format_exc())
            message = "Something went wrong on the workbench. Try again, or ask a developer."
            if self.wants_json(api):
                return self.send_json({"error": message}, 500)
            body = f"<p class='notice error'>{message}</p>"
            return self.send_html(page("Error", body, "", getattr(self, "who", "")), 500)

    def routes(self, method: str, path: str):
        item = re.fullmatch(r"(/api)?/inbox/([0-9a-f]{1,40})/(label|dismiss)", path)
        if method == "POST" and item:
            api, item_id, action = item.groups()
            return lambda: self.review(item_id, action, api=bool(api))
        undo = re.fullmatch(r"(/api)?/history/([0-9]{1,12})/undo", path)
        if method == "POST" and undo:
            return lambda: self.undo(int(undo.group(2)), api=bool(undo.group(1)))
        workbench = self.workbench
        return {
            ("GET", "/"): self.inbox_page,
            ("GET", "/add"): self.add_page,
            ("GET", "/history"): self.history_page,
            ("GET", "/model"): self.model_page,
            ("GET", "/report"): lambda: self.redirect("/model"),
            ("GET", "/intents"): self.intents_page,
            ("GET", "/report/confusion.png"): self.confusion_png,
            ("GET", "/api/inbox"): lambda: self.send_json(
                [i.as_dict() for i in workbench.inbox.items()]
            ),
            ("GET", "/api/report"): lambda: self.send_json(last_report(workbench.project)),
            ("GET", "/api/history"): lambda: self.send_json(
                [c.as_dict() for c in workbench.inbox.journal.entries()]
            ),
            ("GET", "/api/live"): lambda: self.send_json(read_live(workbench.project)),
            ("GET", "/api/retrain"): lambda: self.send_json(workbench.job.status()),
            ("GET", "/api/evaluate"): lambda: self.send_json(workbench.job.status()),
            ("POST", "/add"): lambda: self.add(api=False),
            ("POST", "/api/examples"): lambda: self.add(api=True),
            ("POST", "/retrain"): lambda: self.start_retrain(api=False),
            ("POST", "/evaluate"): lambda: self.start_retrain(api=False),
            ("POST", "/api/retrain"): lambda: self.start_retrain(api=True),
            ("POST", "/api/evaluate"): lambda: self.start_retrain(api=True),
            ("POST", "/logout"): self.logout,
        }.get((method, path))

    def static(self, name: str) -> None:
        if name not in STATIC_TYPES:
            return self.send(404, b"Not found", "text/plain")
        self.send(200, (STATIC / name).read_bytes(), STATIC_TYPES[name])

    # --- auth ---------------------------------------------------------------------------
    def login(self, method: str) -> None:
        if method == "GET" or self.workbench.password is None:
            return self.login_form(200) if method == "GET" else self.redirect("/")
        body = self.read_body()
        given, name = str(body.get("password", "")), " ".join(str(body.get("name", "")).split())
        if not hmac.compare_digest(given.encode(), self.workbench.password.encode()):
            return self.login_form(401, "That password is not right. Try again.", name)
        if not name or len(name) > 80 or not name.isprintable():
            return self.login_form(400, "Please type your name (up to 80 letters).", name)
        token = secrets.token_urlsafe(32)
        self.workbench.sessions[token] = name
        cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        self.send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})

    def logout(self) -> None:
        morsel = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
        if morsel:
            self.workbench.sessions.pop(morsel.value, None)
        gone = {"Location": "/login", "Set-Cookie": f"{COOKIE}=; Max-Age=0; Path=/"}
        self.send(303, b"", "text/plain", gone)

    # --- pages --------------------------------------------------------------------------
    def inbox_page(self, cards: dict[str, str] | None = None) -> None:
        guide = self.workbench.guide()
        items = self.workbench.inbox.items()
        shown = "".join((cards or {}).get(item.id) or inbox_card(item, guide) for item in items)
        body = (
            "<p class=hint>First the answers users marked 👎, then messages the bot was not "
            "sure about. For each, choose what the person wanted and press Label, or Dismiss "
            "it if there is nothing to learn (spam, typos, nonsense).</p>"
            + explain("confidence")
            + explain("fallback")
            + guide_json(guide)
            + (shown or "<p class=card>The inbox is empty: nothing is waiting for review.</p>")
        )
        self.send_html(page("Inbox", body, "/", self.who))

    def add_page(self, notice: str = "", values: dict | None = None, status: int = 200) -> None:
        values = values or {}
        guide = self.workbench.guide()
        error = f'<p class="notice error" data-status aria-live=polite>{html.escape(notice)}</p>'
        form = (
            guide_json(guide)
            + "<div class=card><form method=post action='/add' data-async data-done=clear "
            "data-working='Checking and saving…'>"
            + intent_picker(guide, "add-intent", str(values.get("intent", "")))
            + "<label for=text>Example sentence</label><input type=text id=text name=text "
            f'required maxlength=300 value="{html.escape(str(values.get("text", "")))}" '
            "aria-describedby=text-hint><p class=hint id=text-hint>Write it the way people "
            "really type: lowercase, short, even with typos. One sentence, up to 300 "
            "letters.</p><label for=entities>Topic words (optional)</label><input type=text "
            f'id=entities name=entities value="{html.escape(str(values.get("entities", "")))}" '
            "aria-describedby=entities-hint><p class=hint id=entities-hint>Mark words as a "
            "topic like this: topic=posture. Leave empty if unsure.</p>"
            f"{error if notice else '<p class=notice data-status aria-live=polite></p>'}"
            "<input type=hidden name=confirm value=''>"
            "<p><button class=primary>Add example</button></p></form></div>"
        )
        self.send_html(page("Add example", form, "/add", self.who), status)

    def history_page(self) -> None:
        rows = []
        for change in self.workbench.inbox.journal.entries():
            what = {"add": "Added an example", "label": "Labelled an inbox message",
                    "dismiss": "Dismissed an inbox message",
                    "undo": "Undid a change"}[change.kind]  # fmt: skip
            if change.kind == "undo":
                what += f" (number {change.undoes})"
            if change.can_undo:
                action = (
                    f'<form method=post action="/history/{change.id}/undo" data-async '
                    'data-done=undone data-working="Undoing…"><button class=danger '
                    f'aria-label="Undo change {change.id}">Undo</button>'
                    "<span class=notice data-status aria-live=polite></span></form>"
                )
            else:
                action = "Undone" if change.undone_by else ""
            rows.append(
                f"<tr><td>{change.id}</td><td>{when(change.at)}</td><td>{html.escape(change.who)}"
                f"</td><td>{what}</td><td>{html.escape(change.intent or '')}</td>"
                f"<td>{html.escape(change.text[:200])}</td><td>{action}</td></tr>"
            )
        table = (
            "<div class=table-wrap><table class=history-table><thead><tr><th>No.</th>"
            "<th>When</th><th>Who</th><th>What</th><th>Intent</th><th>Text</th>"
            "<th>Undo</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
            if rows
            else "<p class=card>No changes yet.</p>"
        )
        intro = (
            "<p class=hint>Every change, newest first. Undo takes an example out again, or "
            "puts a message back in the inbox. Retrain afterwards to update the bot.</p>"
        )
        self.send_html(page("History", intro + table, "/history", self.who))

    def model_page(self) -> None:
        project = self.workbench.project
        status = self.workbench.job.status()
        running = " data-running" if status["running"] else ""
        progress = html.escape(status["message"] if status["running"] else status["error"])
        kind = "progress" if status["running"] else ("error" if status["error"] else "")
        parts = [
            live_panel(project),
            "<div class=card><h2>Retrain</h2><p>Retraining builds a new model from the "
            "examples as they are now, then checks it twice: on test sentences it never "
            "learned from, and on safety test cases (chest pain, numbness and other warning "
            "signs). Only if both checks pass does it replace the live model. It takes a few "
            "minutes.</p><form method=post action='/retrain' data-async data-done=poll "
            "data-working='Starting…'><button class=primary"
            + (" disabled" if status["running"] else "")
            + ">Retrain and check</button>"
            f'<p class="notice {kind}" data-status aria-live=polite{running}>{progress}</p>'
            "</form><noscript><p>Reload this page to see the progress.</p></noscript></div>",
            f'<div id="result" tabindex="-1">{status["html"]}</div>',
        ]
        parts.append(f"<section id=last-report>{report_html(last_report(project))}</section>")
        self.send_html(page("Model", "".join(parts), "/model", self.who))

    def intents_page(self) -> None:
        entries = "".join(
            f"<dt>{html.escape(i.name)} <span class=hint>({i.intent})</span></dt>"
            f"<dd>{html.escape(i.description)} For example: "
            + ", ".join(f"“{html.escape(e)}”" for e in i.examples)
            + "</dd>"
            for i in self.workbench.guide().values()
        )
        body = (
            "<p class=hint>The intents you can choose as a label: what each means, with "
            f"three examples.</p><div class=card><dl class=terms>{entries}</dl></div>"
        )
        self.send_html(page("Intents", body, "/intents", self.who))

    def confusion_png(self) -> None:
        path = self.workbench.project.report_dir / "intent_confusion_matrix.png"
        if not path.exists():
            body = "<p>No test results yet.</p>"
            return self.send_html(page("Not found", body, "", self.who), 404)
        self.send(200, path.read_bytes(), "image/png")

    def show_error(self, path: str, error: str) -> None:
        """A refused form, shown again with what was typed and the reason."""
        if path == "/add":
            return self.add_page(error, self.posted, 400)
        item = re.fullmatch(r"/inbox/([0-9a-f]{1,40})/label", path)
        if item:
            chosen = str(self.posted.get("intent", ""))
            return self.inbox_with_card(item.group(1), notice=error, chosen=chosen)
        body = f"<p class='notice error'>{html.escape(error)}</p><p><a href='/'>Back</a></p>"
        self.send_html(page("That did not work", body, "", self.who), 400)

    def inbox_with_card(self, item_id: str, **card) -> None:
        item = self.workbench.inbox.find(item_id)
        self.inbox_page({item_id: inbox_card(item, self.workbench.guide(), **card)})

    # --- actions (the same functions as the CLI) ----------------------------------------
    def review(self, item_id: str, action: str, api: bool) -> None:
        inbox = self.workbench.inbox
        self.posted = body = self.read_body()
        if action == "label":
            intent = str(body.get("intent", ""))
            if intent not in self.workbench.guide():
                raise TrainerError("Choose what the person wanted first.")
            item = inbox.find(item_id)
            warnings = (
                []
                if body.get("confirm") in ("1", True)
                else inbox.warnings(intent, item.text, (item.intent, item.confidence))
            )
            if warnings:
                if self.wants_json(api):
                    return self.send_json({"ok": False, "warnings": warnings}, 409)
                return self.inbox_with_card(item_id, warnings=warnings, chosen=intent)
            added = inbox.label(item_id, intent, reviewer=self.who)
            notice = f"Labelled. “{added.line}” is now an example of {added.intent}."
        else:
            item = inbox.dismiss(item_id, reviewer=self.who)
            notice = f"Dismissed “{item.text[:80]}”."
        if self.wants_json(api):
            return self.send_json({"ok": True, "message": notice})
        self.redirect("/")

    def add(self, api: bool) -> None:
        self.posted = body = self.read_body()
        entities = body.get("entities") or []
        if isinstance(entities, str):
            entities = [e for e in (part.strip() for part in entities.split(",")) if e]
        intent = str(body.get("intent", ""))
        # API only: developers create intents, by name or with `"new_intent": true`.
        new_intent = api and bool(body.get("new_intent"))
        if new_intent and isinstance(body["new_intent"], str):
            intent = body["new_intent"].strip()
        if not new_intent and intent not in self.workbench.guide():
            raise TrainerError("Choose what the person wanted first.")
        text = str(body.get("text", ""))
        if body.get("confirm") not in ("1", True) and not new_intent:
            warnings = self.workbench.inbox.warnings(intent, text)
            if warnings and self.wants_json(api):
                return self.send_json({"ok": False, "warnings": warnings}, 409)
            if warnings:
                return self.add_page("\n".join(warnings) + "\nPress Add again to add it anyway.",
                                     {**body, "confirm": "1"}, 409)  # fmt: skip
        added = self.workbench.inbox.add(
            intent, text, reviewer=self.who, entities=[str(e) for e in entities],
            new_intent=new_intent,
        )  # fmt: skip
        notice = f"Added “{added.line}” to {added.intent}. Retrain to teach the bot."
        if added.new_intent:
            notice += " New intent: give it a rule or story before retraining."
        if self.wants_json(api):
            return self.send_json({"ok": True, "message": notice}, 201 if api else 200)
        self.redirect("/add")

    def undo(self, change_id: int, api: bool) -> None:
        self.posted = {}
        change = self.workbench.inbox.undo(change_id, reviewer=self.who)
        notice = f"Undone: change {change.id} (“{change.text[:80]}”)."
        if self.wants_json(api):
            return self.send_json({"ok": True, "message": notice})
        self.redirect("/history")

    def start_retrain(self, api: bool) -> None:
        started = self.workbench.job.start()
        if self.wants_json(api):
            status = self.workbench.job.status()
            status["message"] = status["message"] if started else "A retrain is already running."
            return self.send_json(status, 202 if started else 409)
        self.redirect("/model")


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

"""`python -m trainer COMMAND`: the trainer's loop from the terminal.

  add INTENT "TEXT" [--entity ENTITY=WORDS] [--new-intent] [--anyway]
  inbox [--threshold 0.6]          👎 answers, then messages the bot was unsure about
  label ID INTENT [--anyway] / dismiss ID     review an inbox message
  history / undo NUMBER            every change, who and when; take one back
  feedback                         users' 👍 and 👎 per topic
  evaluate [--update-baseline]     train a candidate if the data changed, gate on macro F1
  retrain                          candidate + NLU gate + safety gate, then promote it
  web [--port 5010]                the web workbench (needs TRAINER_PASSWORD)

Exit codes: 0 done, 1 a gate failed (the live model stays), 2 the request was refused
(message on stderr), 3 a warning needs a second look (repeat with --anyway).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from trainer.inbox import DEFAULT_THRESHOLD, Inbox
from trainer.project import Project, TrainerError


class ConsoleProgress:
    """One self-updating line on a terminal; in logs, a line per step and every 10 s."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.label = None

    def __call__(self, message: str) -> None:
        label, _, status = message.rpartition(": ")
        finished = status.startswith("done")
        if self.stream.isatty():
            self.stream.write("\r\x1b[K" + message + ("\n" if finished else ""))
        elif label != self.label or finished or status.rstrip(" s").endswith("0"):
            self.stream.write(message + "\n")
        self.label = label
        self.stream.flush()


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m trainer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    main.add_argument("--root", type=Path, default=Project().root, help="bot project folder")
    main.add_argument("--db", help="tracker store URL (default: DATABASE_URL or endpoints.yml)")
    commands = main.add_subparsers(dest="command", required=True)

    add = commands.add_parser("add", help="add a training example")
    add.add_argument("intent")
    add.add_argument("text")
    add.add_argument("--entity", action="append", default=[], metavar="ENTITY=WORDS",
                     help="mark WORDS in the text as ENTITY (repeatable)")  # fmt: skip
    add.add_argument("--new-intent", action="store_true", help="create the intent in the domain")
    add.add_argument("--anyway", action="store_true", help="add it despite a warning")

    inbox = commands.add_parser("inbox", help="messages the bot was unsure about")
    inbox.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    inbox.add_argument("--json", action="store_true", help="print JSON")

    label = commands.add_parser("label", help="add an inbox message as an example of INTENT")
    label.add_argument("id")
    label.add_argument("intent")
    label.add_argument("--new-intent", action="store_true")
    label.add_argument("--anyway", action="store_true", help="label it despite a warning")

    dismiss = commands.add_parser("dismiss", help="remove a message from the inbox")
    dismiss.add_argument("id")

    commands.add_parser("history", help="every change, newest first")
    commands.add_parser("feedback", help="users' 👍 and 👎 per topic")
    undo = commands.add_parser("undo", help="take back one change from the history")
    undo.add_argument("number", type=int)
    commands.add_parser("retrain", help="train, check both gates, promote if both pass")

    evaluate = commands.add_parser("evaluate", help="train a candidate if needed, evaluate")
    evaluate.add_argument("--update-baseline", action="store_true",
                          help="accept this score as the new baseline")  # fmt: skip

    web = commands.add_parser("web", help="serve the web workbench")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=5010)
    web.add_argument("--dev-no-password", action="store_true",
                     help="allow no password, on localhost only")  # fmt: skip
    return main


def print_inbox(items, as_json: bool) -> None:
    if as_json:
        print(json.dumps([item.as_dict() for item in items], indent=2))
        return
    if not items:
        print("The inbox is empty.")
        return
    print(f"{'ID':<10}  {'N':>3}  {'PREDICTED':<24} {'CONF':>5}  {'LAST SEEN':<16}  TEXT")
    for item in items:
        predicted = ("fallback→" if item.fallback else "") + item.intent
        seen = datetime.fromtimestamp(item.last_seen).strftime("%Y-%m-%d %H:%M")
        text = item.text if len(item.text) <= 70 else item.text[:69] + "…"
        score = f"{item.confidence:>5.2f}"
        print(f"{item.id:<10}  {item.count:>3}  {predicted:<24} {score}  {seen:<16}  {text}")
    print(f"\n{len(items)} message(s). Next: label ID INTENT, or dismiss ID.")


def warned(warnings: list[str]) -> bool:
    for warning in warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    if warnings:
        print("Nothing was changed. Repeat with --anyway if you are sure.", file=sys.stderr)
    return bool(warnings)


def run(args: argparse.Namespace) -> int:
    project = Project(args.root.resolve())
    if args.command == "add":
        inbox = Inbox(project, args.db)
        if not (args.anyway or args.new_intent) and warned(inbox.warnings(args.intent, args.text)):
            return 3
        added = inbox.add(args.intent, args.text, entities=args.entity, new_intent=args.new_intent)
        where = added.file.relative_to(project.root)
        print(f"Added to {where} under {added.intent}: {added.line}")
        if added.new_intent:
            print(f"New intent '{added.intent}' added to domain.yml: give it a rule or story.")
    elif args.command == "inbox":
        print_inbox(Inbox(project, args.db).items(args.threshold), args.json)
    elif args.command == "label":
        inbox = Inbox(project, args.db)
        item = inbox.find(args.id)
        guess = (item.intent, item.confidence)
        if not args.anyway and warned(inbox.warnings(args.intent, item.text, guess)):
            return 3
        added = inbox.label(args.id, args.intent, new_intent=args.new_intent)
        print(f"Labeled as {added.intent}; added to {added.file.relative_to(project.root)}.")
    elif args.command == "dismiss":
        item = Inbox(project, args.db).dismiss(args.id)
        print(f"Dismissed: {item.text[:70]}")
    elif args.command == "history":
        for change in Inbox(project, args.db).journal.entries():
            seen = datetime.fromtimestamp(change.at).strftime("%Y-%m-%d %H:%M")
            state = " (undone)" if change.undone_by else ""
            print(f"{change.id:>4}  {seen}  {change.who:<12} {change.kind:<8} "
                  f"{change.intent or '':<22} {change.text[:50]}{state}")  # fmt: skip
    elif args.command == "feedback":
        counts = Inbox(project, args.db).feedback_counts()
        print(f"{'TOPIC':<50} {'👍':>4} {'👎':>4}")
        for topic, count in sorted(counts.items(), key=lambda kv: -kv[1]["down"]):
            print(f"{topic[:50]:<50} {count['up']:>4} {count['down']:>4}")
    elif args.command == "undo":
        change = Inbox(project, args.db).undo(args.number)
        print(f"Undone: {change.kind} of '{change.text[:70]}'.")
    elif args.command == "retrain":
        from trainer.promotion import retrain

        inbox = Inbox(project, args.db)
        result = retrain(project, inbox.journal, ConsoleProgress())
        print(result.headline)
        for worse in result.worse_intents:
            print(f"  worse: {worse['intent']} F1 {worse['before']:.2f} -> {worse['after']:.2f}")
        for line in result.safety_worse:
            print(f"  safety: {line}")
        for suspect in result.suspects:
            print(f"  probably caused by change {suspect['id']}: '{suspect['text']}' "
                  f"as {suspect['intent']} ({suspect['who']})")  # fmt: skip
        for line in result.bots:
            print(f"  {line}")
        print(f"Next: {result.next_step}")
        return 0 if result.promoted or result.unchanged else 1
    elif args.command == "evaluate":
        from trainer.evaluation import evaluate

        result = evaluate(project, ConsoleProgress(), args.update_baseline)
        print(f"Intent macro F1 {result.macro_f1:.4f} (baseline {result.baseline:.4f}, "
              f"allowed drop {result.allowed_drop:.2f}). Report: "
              f"{(project.report_dir / 'report.md').relative_to(project.root)}")  # fmt: skip
        for pair in result.confused_pairs:
            print(f"  confused: {pair['intent']} → {pair['predicted']} ({pair['count']})")
        if not result.passed:
            print("Quality gate FAILED: macro F1 dropped below the baseline.", file=sys.stderr)
            return 1
        print("Quality gate passed.")
    elif args.command == "web":
        from trainer.web import serve

        return serve(project, args.host, args.port, args.db, args.dev_no_password)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except TrainerError as error:
        print(f"Refused: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

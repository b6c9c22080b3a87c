"""Add a training example to the NLU files without disturbing anything else in them.

Files under data/nlu/ hold `- intent: X` items with an `examples: |` literal block. A new
example is inserted as one line after the intent's last example, so comments, order and
formatting stay byte-for-byte; the result is parsed back and checked by `rasa data
validate` on a staged copy before the real file is replaced atomically.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from ops.launcher import RASA, SERVER_ENV
from trainer.project import Project, TrainerError, write_atomically

MAX_TEXT_LENGTH = 300
# Texts this similar (0..1, after normalising) teach the model nothing new.
NEAR_DUPLICATE_RATIO = 0.9
# Texts this similar to an example of another intent get a warning before they are added.
SIMILAR_RATIO = 0.75
# A guess the bot made with at least this confidence is worth a second look if the
# trainer picks another intent.
CONFIDENT_GUESS = 0.8
INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Rasa's inline entity annotations: [span](entity), [span]{"entity": ...}, [span][...].
ANNOTATION = re.compile(r"\[([^\]]*)\](\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


@dataclass(frozen=True)
class Example:
    intent: str
    text: str  # without entity annotations
    file: Path


@dataclass(frozen=True)
class Added:
    intent: str
    line: str  # as written to the file, annotations included
    file: Path
    new_intent: bool


def plain_text(annotated: str) -> str:
    return ANNOTATION.sub(lambda m: m.group(1), annotated)


def normalise(text: str) -> str:
    text = plain_text(text).casefold().replace("\u2019", "'").replace("'", "")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def examples_in(block: str) -> list[str]:
    return [line.strip()[2:] for line in block.splitlines() if line.strip().startswith("- ")]


def parse_examples(path: Path, content: str) -> list[Example]:
    found = []
    for item in (yaml.safe_load(content) or {}).get("nlu") or []:
        if isinstance(item, dict) and isinstance(item.get("examples"), str) and "intent" in item:
            found += [
                Example(item["intent"], plain_text(t), path) for t in examples_in(item["examples"])
            ]
    return found


def read_examples(files: list[Path]) -> list[Example]:
    return [e for path in files for e in parse_examples(path, path.read_text(encoding="utf-8"))]


def domain_names(domain: dict, key: str) -> list[str]:
    return [next(iter(item)) if isinstance(item, dict) else item for item in domain.get(key) or []]


def clean_text(text: str) -> str:
    text = " ".join(text.split(" ")).strip()
    if not text:
        raise TrainerError("The example is empty.")
    if len(text) > MAX_TEXT_LENGTH:
        raise TrainerError(
            f"The example is too long ({len(text)} characters, at most {MAX_TEXT_LENGTH})."
        )
    if any(ch in text for ch in "\r\n\t") or not text.isprintable():
        raise TrainerError("The example must be one line of printable text.")
    if text.startswith("/"):
        raise TrainerError("Examples cannot start with '/': Rasa reads that as an intent name.")
    if ANNOTATION.search(text):
        raise TrainerError("The text looks like an entity annotation; mark entities with --entity.")
    return text


def annotate(text: str, entities: list[str], known_entities: list[str]) -> str:
    """`entity=span` pairs become Rasa's inline `[span](entity)` marks."""
    spans = []
    for pair in entities:
        name, _, span = pair.partition("=")
        name, span = name.strip(), span.strip()
        if not span:
            raise TrainerError(f"Write entities as entity=words, not '{pair}'.")
        if name not in known_entities:
            raise TrainerError(f"Unknown entity '{name}'. Known: {', '.join(known_entities)}.")
        start = text.find(span)
        if start < 0:
            raise TrainerError(f"'{span}' does not occur in the example.")
        spans.append((start, start + len(span), name))
    spans.sort()
    for (_, end, _), (start, _, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise TrainerError("Entity spans overlap.")
    for start, end, name in reversed(spans):
        text = f"{text[:start]}[{text[start:end]}]({name}){text[end:]}"
    return text


def check_new_text(text: str, intent: str, existing: list[Example], held_out: list[str]) -> None:
    """Refuse duplicates, near duplicates, conflicts and held-out test sentences."""
    key = normalise(text)
    for example in existing:
        other = normalise(example.text)
        same = example.text.strip() == text or other == key
        near = same or (
            difflib.SequenceMatcher(None, key, other).quick_ratio() >= NEAR_DUPLICATE_RATIO
            and difflib.SequenceMatcher(None, key, other).ratio() >= NEAR_DUPLICATE_RATIO
        )
        if not near:
            continue
        where = f"in {example.file.name}"
        if example.intent != intent:
            raise TrainerError(
                f"Conflict: '{example.text}' is already an example of '{example.intent}' "
                f"({where}). One sentence cannot teach two intents."
            )
        kind = "Duplicate" if example.text.strip() == text else "Near duplicate"
        raise TrainerError(f"{kind}: '{intent}' already has '{example.text}' ({where}).")
    if key in {normalise(t) for t in held_out}:
        raise TrainerError(
            "This sentence is in the held-out test set; training on it would hide mistakes."
        )


def similarity(a: str, b: str) -> float:
    """0..1, how alike two texts are after normalising."""
    matcher = difflib.SequenceMatcher(None, normalise(a), normalise(b))
    return matcher.ratio() if matcher.quick_ratio() >= SIMILAR_RATIO else 0.0


def most_similar_other(text: str, intent: str, existing: list[Example]) -> Example | None:
    """The example of another intent most like `text`, if it is at least SIMILAR_RATIO alike."""
    scored = [(similarity(text, e.text), e) for e in existing if e.intent != intent]
    best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
    return best[1] if best[0] >= SIMILAR_RATIO else None


def project_examples(project: Project) -> list[Example]:
    return read_examples(sorted(project.nlu_dir.glob("*.yml")))


def insert_example(content: str, intent: str, line: str) -> str:
    """`content` with `line` added as the last example of the intent's literal block."""
    lines = content.splitlines(keepends=True)
    intent_line = re.compile(rf"^(\s*)- intent:\s*[\"']?{re.escape(intent)}[\"']?\s*(#.*)?$")
    start = next(
        (i for i, text in enumerate(lines) if intent_line.match(text.rstrip("\r\n"))), None
    )
    if start is None:
        raise TrainerError(f"'{intent}' has no item in this file.")
    key = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"^\s*examples:\s*\|", lines[i])), None
    )
    if key is None:
        raise TrainerError(f"'{intent}' has no `examples: |` block.")
    key_indent = len(lines[key]) - len(lines[key].lstrip())
    last, end = key, key + 1
    while end < len(lines):
        text = lines[end]
        if text.strip() and len(text) - len(text.lstrip()) <= key_indent:
            break
        if text.strip():
            last = end
        end += 1
    # Same indentation as the examples above, or two more than `examples:` in an empty block.
    indent = re.match(r"^(\s*)", lines[last]).group(1) if last > key else " " * (key_indent + 2)
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    newline = "\r\n" if lines[last].endswith("\r\n") else "\n"
    lines.insert(last + 1, f"{indent}- {line}{newline}")
    return "".join(lines)


def delete_example(content: str, intent: str, line: str) -> str:
    """`content` without the example `line` in the intent's block."""
    lines = content.splitlines(keepends=True)
    intent_line = re.compile(rf"^(\s*)- intent:\s*[\"']?{re.escape(intent)}[\"']?\s*(#.*)?$")
    current = None
    for i, text in enumerate(lines):
        if re.match(r"^\s*- intent:", text):
            current = intent if intent_line.match(text.rstrip("\r\n")) else None
        elif current == intent and text.strip() == f"- {line}":
            return "".join(lines[:i] + lines[i + 1 :])
    raise TrainerError(f"'{line}' is no longer an example of '{intent}'; nothing was changed.")


def remove_example(project: Project, path: Path, intent: str, line: str) -> None:
    """Take one example out again (undo); checked like an addition before the file changes."""
    with project.lock():
        if not path.exists():
            raise TrainerError(f"{path.name} is gone; nothing was changed.")
        content = delete_example(path.read_text(encoding="utf-8"), intent, line)
        validate_staged(project, {path: content})
        write_atomically(path, content)


def insert_intent(domain_text: str, intent: str) -> str:
    """`domain_text` with `intent` appended to its `intents:` list."""
    lines = domain_text.splitlines(keepends=True)
    start = next((i for i, t in enumerate(lines) if re.match(r"^intents:\s*(#.*)?$", t)), None)
    if start is None:
        raise TrainerError("domain.yml has no `intents:` list.")
    last, indent = start, "  "
    for i in range(start + 1, len(lines)):
        text = lines[i]
        if text.strip() and not text[0].isspace() and not text.startswith(("- ", "#")):
            break
        if text.strip() and not text.lstrip().startswith("#"):
            last = i
            item = re.match(r"^(\s*)- ", text)
            if item and (indent == "  " or len(item.group(1)) <= len(indent)):
                indent = item.group(1)
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    lines.insert(last + 1, f"{indent}- {intent}\n")
    return "".join(lines)


def validate_staged(project: Project, changes: dict[Path, str]) -> None:
    """Run `rasa data validate` on a copy with `changes` applied; raise if it fails."""
    with tempfile.TemporaryDirectory(prefix="trainer-stage-") as tmp:
        stage = Path(tmp)
        shutil.copytree(project.root / "data", stage / "data", ignore=shutil.ignore_patterns(".*"))
        shutil.copy2(project.domain, stage / "domain.yml")
        for path, content in changes.items():
            (stage / path.relative_to(project.root)).write_text(content, encoding="utf-8")
        result = subprocess.run(
            [RASA, "data", "validate", "--data", str(stage / "data"),
             "--domain", str(stage / "domain.yml"), "--config", str(project.root / "config.yml")],
            cwd=project.root, env={**os.environ, **SERVER_ENV},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    if result.returncode != 0:
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
        problems = [line for line in output.splitlines() if "ERROR" in line or "Error" in line]
        detail = "\n".join(problems[-5:] or output.splitlines()[-5:])
        raise TrainerError(f"`rasa data validate` failed, so nothing was changed:\n{detail}")


def add_example(
    project: Project,
    intent: str,
    text: str,
    entities: list[str] | None = None,
    new_intent: bool = False,
    validate: bool = True,
) -> Added:
    """Append one example under `intent`; on any problem raise TrainerError and change nothing."""
    text = clean_text(text)
    if not INTENT_NAME.match(intent or ""):
        raise TrainerError("Intent names are lowercase letters, digits and underscores.")
    with project.lock():
        domain_text = project.domain.read_text(encoding="utf-8")
        domain = yaml.safe_load(domain_text)
        intents = domain_names(domain, "intents")
        if intent not in intents and not new_intent:
            raise TrainerError(
                f"Unknown intent '{intent}'. Known intents: {', '.join(intents)}. "
                "To create it, add --new-intent."
            )
        line = annotate(text, entities or [], domain_names(domain, "entities"))
        nlu_files = sorted(project.nlu_dir.glob("*.yml"))
        existing = read_examples(nlu_files)
        held_out = [e.text for e in read_examples(project.held_out_sets)]
        check_new_text(text, intent, existing, held_out)

        changes: dict[Path, str] = {}
        counts: dict[Path, int] = {}
        for example in existing:
            if example.intent == intent:
                counts[example.file] = counts.get(example.file, 0) + 1
        if counts:
            target = max(sorted(counts), key=lambda path: counts[path])
            changes[target] = insert_example(target.read_text(encoding="utf-8"), intent, line)
        else:
            target = project.nlu_dir / f"{intent}.yml"
            if target.exists():
                raise TrainerError(f"{target.name} exists but has no '{intent}' examples.")
            changes[target] = (
                f'version: "3.1"\nnlu:\n- intent: {intent}\n  examples: |\n    - {line}\n'
            )
        if intent not in intents:
            changes[project.domain] = insert_intent(domain_text, intent)
            if domain_names(yaml.safe_load(changes[project.domain]), "intents") != [
                *intents,
                intent,
            ]:
                raise TrainerError("domain.yml could not be updated safely; nothing was changed.")

        # The file must read back as before plus exactly this example.
        before = [(e.intent, e.text) for e in existing if e.file == target]
        after = [(e.intent, e.text) for e in parse_examples(target, changes[target])]
        if sorted(after) != sorted([*before, (intent, text)]):
            raise TrainerError("The example could not be written safely; nothing was changed.")
        if validate:
            validate_staged(project, changes)
        for path, content in changes.items():
            write_atomically(path, content)
    return Added(intent, line, target, intent not in intents)

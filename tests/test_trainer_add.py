"""`python -m trainer add`: one new line, nothing else touched, bad input refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from helpers.trainer_projects import copy_project, snapshot, trainer

from trainer.examples import add_example, read_examples
from trainer.project import Project, TrainerError, write_atomically


@pytest.fixture
def project(tmp_path) -> Project:
    return copy_project(tmp_path / "bot")


def test_add_inserts_one_line_and_leaves_every_other_byte(project):
    before = snapshot(project)
    # YAML-breaking characters go in literally: the examples are a literal block.
    text = "it's \"odd\": my back - # after 'lifting' weights"
    result = trainer(project, "add", "ask_causes", text)
    assert result.returncode == 0, result.stderr

    after = snapshot(project)
    changed = [name for name in after if after[name] != before.get(name)]
    assert changed == ["data/nlu/causes.yml"]
    new_line = f"    - {text}\n".encode()
    assert after["data/nlu/causes.yml"].replace(new_line, b"", 1) == before["data/nlu/causes.yml"]
    examples = read_examples([project.nlu_dir / "causes.yml"])
    assert (examples[-1].intent, examples[-1].text) == ("ask_causes", text)
    assert "causes.yml" in result.stdout


def test_entities_are_written_as_rasa_annotations(project):
    added = add_example(project, "ask_relief", "does a warm bath help a stiff back",
                        entities=["topic=warm bath"])  # fmt: skip
    assert added.line == "does a [warm bath](topic) help a stiff back"
    assert f"- {added.line}\n" in added.file.read_text()


@pytest.mark.parametrize(
    ("intent", "text", "reason"),
    [
        ("ask_causes", "why does my upper back hurt after lifting", "Duplicate"),
        ("ask_causes", "Why does my upper-back hurt after lifting?!", "Near duplicate"),
        ("ask_causes", "why does my upper back hurt after liftin", "Near duplicate"),
        ("ask_relief", "why does my upper back hurt after lifting", "Conflict"),
        ("ask_astrology", "what does my star sign say about my back", "Unknown intent"),
        ("ask_causes", "", "empty"),
        ("ask_causes", "   ", "empty"),
        ("ask_causes", "why " * 200, "too long"),
        ("ask_causes", "first line\n- intent: greet", "one line"),
        ("ask_causes", "nul \x00 byte", "one line"),
        ("ask_causes", "is it from [sitting](topic)", "entity annotation"),
        ("ask_causes", "/greet", "intent name"),
        ("Bad Intent!", "why does it hurt so much today", "lowercase"),
    ],
)
def test_bad_examples_are_refused_and_nothing_changes(project, intent, text, reason):
    before = snapshot(project)
    with pytest.raises(TrainerError, match=reason):
        add_example(project, intent, text)
    assert snapshot(project) == before


def test_held_out_sentences_are_refused(project):
    held_out = read_examples([project.test_set])[0]
    with pytest.raises(TrainerError, match="held-out"):
        add_example(project, held_out.intent, held_out.text, validate=False)


def test_cli_refusal_exits_2_with_the_reason(project):
    before = snapshot(project)
    result = trainer(project, "add", "no_such_intent", "hello there friend")
    assert result.returncode == 2
    assert "Unknown intent 'no_such_intent'" in result.stderr and "--new-intent" in result.stderr
    assert snapshot(project) == before


def test_new_intent_is_wired_into_the_domain(project):
    domain_before = project.domain.read_text()
    result = trainer(project, "add", "ask_posture_apps", "is there an app for posture",
                     "--new-intent")  # fmt: skip
    assert result.returncode == 0, result.stderr
    domain_after = project.domain.read_text()
    assert domain_after.replace("  - ask_posture_apps\n", "", 1) == domain_before
    assert yaml.safe_load(domain_after)["intents"][-1] == "ask_posture_apps"
    examples = read_examples([project.nlu_dir / "ask_posture_apps.yml"])
    assert [(e.intent, e.text) for e in examples] == [
        ("ask_posture_apps", "is there an app for posture")
    ]  # noqa: E501


def test_a_failed_validation_leaves_the_files_untouched(project):
    # A rule naming an action the domain lacks: `rasa data validate` rejects the data set.
    rules = project.root / "data" / "rules" / "chitchat.yml"
    rules.write_text(rules.read_text() + "\n- rule: broken\n  steps:\n  - intent: greet\n"
                     "  - action: utter_no_such_response\n")  # fmt: skip
    before = snapshot(project)
    with pytest.raises(TrainerError, match="rasa data validate"):
        add_example(project, "greet", "hey there you lovely bot")
    assert snapshot(project) == before


def test_two_trainers_adding_at_once_never_corrupt_the_file(project):
    texts = ["my back twinges when i sneeze", "my back twinges when i sneeze",
             "it clicks when i roll my shoulders"]  # fmt: skip
    with ThreadPoolExecutor(len(texts)) as pool:
        results = list(pool.map(lambda t: trainer(project, "add", "ask_symptoms", t), texts))
    assert sorted(r.returncode for r in results) == [0, 0, 2]
    assert "Duplicate" in next(r.stderr for r in results if r.returncode == 2)
    symptoms = [e.text for e in read_examples(sorted(project.nlu_dir.glob("*.yml")))]
    assert symptoms.count(texts[0]) == 1 and symptoms.count(texts[2]) == 1
    assert not [p for p in project.root.rglob("*.tmp")]


def test_a_failed_write_keeps_the_previous_file(project):
    path = project.nlu_dir / "causes.yml"
    before = path.read_bytes()
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, before.decode() + "- \ud800 cannot be encoded\n")
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*.tmp"))

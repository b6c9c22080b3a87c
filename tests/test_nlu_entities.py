"""What the trained NLU pipeline (our spaCy rules inside Rasa) extracts from user text."""

from __future__ import annotations

import asyncio

import pytest
import spacy
from rasa.core.agent import Agent

from ops.launcher import DEFAULT_MODEL, ROOT


@pytest.fixture(scope="module")
def parse():
    agent = Agent.load(str(DEFAULT_MODEL))

    def parse_text(text: str) -> dict:
        return asyncio.run(agent.parse_message(text))

    return parse_text


def entities(result: dict, label: str, role: str | None = None) -> list[str]:
    return [
        e["value"] for e in result["entities"] if e["entity"] == label and e.get("role") == role
    ]


@pytest.mark.parametrize(
    "text, persistent",
    [
        ("it's been hurting for 3 weeks", True),
        ("since march", True),
        ("a week now", True),
        ("it won't go away", True),
        ("keeps coming back every few days", True),
        ("i have chronic upper back pain", True),
        ("only for 2 hours", False),
        ("since this morning", False),
        ("it started yesterday", False),
    ],
)
def test_the_safety_layer_marks_persistent_pain(parse, text, persistent):
    assert bool(entities(parse(text), "pain_persistence")) is persistent


@pytest.mark.parametrize(
    "text, intent",
    [
        ("my back hurts and I have chest pain, should I use ice?", "report_red_flag"),
        ("chest pain, no fever", "report_red_flag"),
        ("i also have a fever", "report_urgent_symptom"),
        ("no fever but it's worse at night", "report_urgent_symptom"),
        ("i feel a bit dizzy", "unconfirmed_red_flag"),
    ],
)
def test_the_safety_layer_decides_the_intent(parse, text, intent):
    assert parse(text)["intent"]["name"] == intent


def test_a_denied_red_flag_is_never_routed_to_the_emergency(parse):
    assert parse("back pain but no chest pain")["intent"]["name"] != "report_red_flag"


def test_the_safety_decision_is_explained_in_the_parse_data(parse):
    safety = parse("i have chest pain but no numbness")["safety"]
    assert (safety["decision"], safety["signal"]) == ("emergency", "concept_rules")
    by_concept = {f["concept"]: f for f in safety["findings"]}
    assert by_concept["chest"]["current"] and by_concept["chest"]["words"] == "chest pain"
    assert not by_concept["limb"]["current"]
    assert by_concept["limb"]["context"][0]["category"] == "NEGATED_EXISTENCE"
    assert safety["held_intent"]  # what the intent classifier heard, kept for the review


@pytest.mark.parametrize(
    "text, topic",
    [
        ("why does my upper back hurt after lifting", "lifting"),
        ("should i use ice or heat", "ice_and_heat"),
        ("is it from slouching at my desk", "posture"),
        ("does quitting smoking help", "smoking"),
        ("will they do an mri", "tests"),
    ],
)
def test_topics_are_entities(parse, text, topic):
    assert topic in entities(parse(text), "topic")


def test_the_spacy_pipeline_lemmatizes_from_spacy_lookups_data():
    nlp = spacy.load(ROOT / "models" / "spacy" / "en_upper_back")
    assert nlp.pipe_names == ["lemmatizer", "entity_ruler", "sentencizer"]
    assert [t.lemma_ for t in nlp("lifting boxes hurts")] == ["lift", "box", "hurt"]


def test_topics_match_any_form_of_a_lexicon_word():
    """The ruler matches lemmas: the lexicon's "raking" finds "raked", "tackle" "tackled"."""
    nlp = spacy.load(ROOT / "models" / "spacy" / "en_upper_back")
    doc = nlp("raked leaves all day then got tackled, now my chairs feel wrong")
    assert [(e.text, e.ent_id_) for e in doc.ents] == [
        ("raked", "overwork"),
        ("tackled", "injury"),
        ("chairs", "posture"),
    ]


def test_a_statement_plus_a_question_keeps_the_question_intent_apart(parse):
    parsed = parse("a bit woozy this morning and my back is in spasm. what usually causes it?")
    assert parsed["question_intent"]["name"] == "ask_causes"
    assert parsed["safety"]["held_intent"] == "ask_causes"
    assert "question_intent" not in parse("what usually causes it?")  # nothing to set apart

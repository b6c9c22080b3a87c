"""What the trained NLU pipeline (our spaCy rules inside Rasa) extracts from user text."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
import spacy
from rasa.core.agent import Agent

from bot.nlu.durations import days_in
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
    "text, duration",
    [
        ("it's been sore for two weeks", "two weeks"),
        ("about 3 days", "3 days"),
        ("it started since March", "since march"),
        ("over a month", "a month"),
        ("a week now", "a week now"),
        ("for a couple of days", "a couple of days"),
        ("since last week", "since last week"),
        ("only since this morning", "since this morning"),
    ],
)
def test_durations_are_entities(parse, text, duration):
    assert entities(parse(text), "duration") == [duration]


@pytest.mark.parametrize(
    "text, persistent",
    [
        ("it's been hurting for 3 weeks", True),
        ("since march", True),
        ("a week now", True),
        ("it won't go away", True),
        ("keeps coming back every few days", True),
        ("i have chronic upper back pain", True),
        ("it's not getting better", True),
        ("only for 2 hours", False),
        ("since this morning", False),
        ("it started yesterday", False),
    ],
)
def test_persistence_follows_the_configured_threshold(parse, text, persistent):
    assert bool(entities(parse(text), "pain_persistence")) is persistent


@pytest.mark.parametrize(
    "text, flag",
    [
        ("my back hurts and I have chest pain", "chest_pain"),
        ("there's pressure in my chest", "chest_pressure"),
        ("i can't breathe properly", "trouble_breathing"),
        ("really short of breath", "trouble_breathing"),
        ("my arms are numb", "numbness"),
        ("tingling in my fingers", "tingling"),
        ("my legs feel weak", "limb_weakness"),
        ("i lost control of my bladder", "bladder_bowel_control"),
        ("numbness around my groin", "saddle_numbness"),
        ("a sudden severe pain between my shoulders", "sudden_severe_pain"),
        ("a tearing pain in my upper back", "tearing_pain"),
        ("i fainted earlier", "fainting"),
        ("sweating and feeling sick with the pain", "sweating"),
        ("hurt my back in a car crash", "serious_accident"),
    ],
)
def test_red_flags_are_entities(parse, text, flag):
    assert flag in entities(parse(text), "red_flag")


@pytest.mark.parametrize(
    "text, red_flags, negated",
    [
        ("back pain but no chest pain", [], ["chest_pain"]),
        ("chest pain, no fever", ["chest_pain"], []),
        ("i don't have any numbness", [], ["numbness"]),
        ("no fever but i feel numb", ["numbness"], []),
        ("not sure if this is chest pain", ["chest_pain"], []),
        ("without tingling or numbness", [], ["tingling", "numbness"]),
    ],
)
def test_negated_red_flags_are_marked(parse, text, red_flags, negated):
    result = parse(text)
    assert entities(result, "red_flag") == red_flags
    assert entities(result, "red_flag", role="negated") == negated


@pytest.mark.parametrize(
    "text, intent",
    [
        ("my back hurts and I have chest pain, should I use ice?", "report_red_flag"),
        ("chest pain, no fever", "report_red_flag"),
        ("i also have a fever", "report_urgent_symptom"),
        ("no fever but it's worse at night", "report_urgent_symptom"),
    ],
)
def test_safety_signs_decide_the_intent(parse, text, intent):
    assert parse(text)["intent"]["name"] == intent


def test_negated_only_red_flag_is_never_routed_to_the_emergency(parse):
    assert parse("back pain but no chest pain")["intent"]["name"] != "report_red_flag"


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
    assert nlp.pipe_names == ["entity_ruler", "lemmatizer"]
    assert [t.lemma_ for t in nlp("lifting boxes hurts")] == ["lift", "box", "hurt"]


@pytest.mark.parametrize(
    "phrase, days",
    [
        ("3 weeks", 21),
        ("two weeks", 14),
        ("since march", 268),
        ("a couple of days", 2),
        ("for weeks", 21),
        ("2-3 days", 3),
        ("48 hours", 2),
        ("since monday", 1),
        ("since this morning", 0),
        ("since christmas", 334),
    ],
)
def test_days_in_duration_phrases(phrase, days):
    assert days_in(phrase, today=date(2026, 11, 24)) == days

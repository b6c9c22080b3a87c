"""The emergency numbers (data/safety/emergency_numbers.yml) and how the local one is picked."""

from __future__ import annotations

import asyncio
import re
import zoneinfo

import pytest
from helpers.make_plan import make_train_plan
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from bot import ROOT
from bot.emergency import emergency_metadata, emergency_numbers, local_number, numbers_line

PICKS = {
    "time zone": ({"time_zone": "Europe/London"}, "999"),
    "an alias of one": ({"time_zone": "US/Eastern"}, "911"),
    "time zone over locale": ({"locale": "en-US", "time_zone": "Australia/Perth"}, "000"),
    "region when the zone says nothing": ({"locale": "en-CA", "time_zone": "UTC"}, "911"),
    "region with a script": ({"locale": "sr-Latn-HR"}, "112"),
    "an EU-only language": ({"locale": "de"}, "112"),
    "Telegram's lowercase region": ({"locale": "en-gb"}, "999"),
    "region over language": ({"locale": "de-CH"}, None),
    "a language spoken everywhere": ({"locale": "en"}, None),
    "nothing": (None, None),
}


@pytest.mark.parametrize("case", PICKS.values(), ids=PICKS.keys())
def test_the_local_number_is_picked_from_time_zone_then_region_then_language(case):
    metadata, number = case
    picked = local_number(metadata)
    assert (picked.number if picked else None) == number


def test_every_time_zone_in_the_file_is_a_real_one():
    known = zoneinfo.available_timezones()
    zones = [zone for number in emergency_numbers() for zone in number.time_zones]
    assert zones and [zone for zone in zones if zone not in known] == []
    assert len(zones) == len(set(zones)), "a zone picks one number"


def test_the_emergency_replys_examples_are_numbers_in_the_file(domain):
    text = domain["responses"]["utter_emergency"][0]["text"]
    examples = re.findall(r"\b\d{3}\b", text)
    assert examples and set(examples) <= {n.number for n in emergency_numbers()}


def test_the_local_number_comes_first_and_is_not_listed_again():
    emergency = emergency_metadata({"locale": "en-AU"})
    assert emergency["local"] == {"number": "000", "where": "Australia"}
    assert "000" not in [other["number"] for other in emergency["others"]]
    assert numbers_line(emergency) == (
        "In Australia, call 000. Elsewhere: 999 in the UK, 911 in the US and Canada, 112 in the EU."
    )


def test_the_response_generator_adds_the_numbers_and_keeps_the_text(domain):
    endpoints = read_endpoint_config(str(ROOT / "endpoints.yml"), "nlg")
    nlg = NaturalLanguageGenerator.create(endpoints, Domain.from_dict(domain))
    said = UserUttered("chest pain", metadata={"time_zone": "America/Vancouver"})
    tracker = DialogueStateTracker.from_events("nlg-emergency", [said])
    reply = asyncio.run(nlg.generate("utter_emergency", tracker, "socketio"))
    assert reply["text"] == domain["responses"]["utter_emergency"][0]["text"]
    assert reply["metadata"]["emergency"] == emergency_metadata({"time_zone": "Canada/Pacific"})


def test_after_a_red_flag_other_responses_start_with_the_reminder_to_call(domain):
    endpoints = read_endpoint_config(str(ROOT / "endpoints.yml"), "nlg")
    nlg = NaturalLanguageGenerator.create(endpoints, Domain.from_dict(domain))
    said = UserUttered("thanks", metadata={"locale": "en-GB"})
    tracker = DialogueStateTracker.from_events(
        "nlg-reminder", [said, SlotSet("emergency_reported", True)]
    )
    responses = domain["responses"]
    reminder = asyncio.run(nlg.generate("utter_emergency_reminder", tracker, "socketio"))
    assert reminder["metadata"]["emergency"]["local"] == {"number": "999", "where": "the UK"}
    thanks = asyncio.run(nlg.generate("utter_you_are_welcome", tracker, "socketio"))
    assert thanks["text"] == (
        f"{responses['utter_emergency_reminder'][0]['text']}\n\n"
        f"{responses['utter_you_are_welcome'][0]['text']}"
    )
    # Safety replies keep their own wording.
    urgent = asyncio.run(nlg.generate("utter_urgent_care", tracker, "socketio"))
    assert urgent["text"] == responses["utter_urgent_care"][0]["text"]


def test_changing_a_number_retrains_nothing():
    # The response generator reads the file at run time: make's plan stays the same.
    assert make_train_plan("data/safety/emergency_numbers.yml") == make_train_plan()

"""The emergency numbers to offer a person, from data/safety/emergency_numbers.yml.

The local number is picked from the metadata a client sent with the message (the input
policy lets through only `locale` and `time_zone`): the time zone first, as it says where
the device is (a browser in London often says en-US), then the locale's region, then its
language. The emergency reply carries the result as response metadata, so every channel
shows it its own way and the reply's text stays domain.yml's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from bot import ROOT

NUMBERS_FILE = ROOT / "data" / "safety" / "emergency_numbers.yml"
EMERGENCY_RESPONSE = "utter_emergency"


@dataclass(frozen=True)
class EmergencyNumber:
    number: str
    where: str
    regions: frozenset[str]
    languages: frozenset[str]
    time_zones: frozenset[str]


@cache
def emergency_numbers() -> tuple[EmergencyNumber, ...]:
    document = yaml.safe_load(NUMBERS_FILE.read_text(encoding="utf-8"))
    return tuple(
        EmergencyNumber(
            number=entry["number"],
            where=entry["where"],
            regions=frozenset(entry["regions"]),
            languages=frozenset(entry.get("languages", ())),
            time_zones=frozenset(entry["time_zones"]),
        )
        for entry in document["numbers"]
    )


def _region(locale: str) -> str | None:
    """The region subtag of a BCP 47 tag: GB in en-GB, TW in zh-Hant-TW."""
    for subtag in locale.split("-")[1:]:
        if len(subtag) == 2 and subtag.isalpha():
            return subtag.upper()
    return None


def local_number(metadata: dict | None) -> EmergencyNumber | None:
    """The number for where the person seems to be, or None when nothing says."""
    metadata = metadata or {}
    numbers = emergency_numbers()
    time_zone = metadata.get("time_zone")
    locale = (metadata.get("locale") or "").replace("_", "-")
    region = _region(locale)
    language = locale.split("-")[0].lower()
    for matches in (
        lambda n: time_zone in n.time_zones,
        lambda n: region in n.regions,
        lambda n: region is None and language in n.languages,
    ):
        found = next((n for n in numbers if matches(n)), None)
        if found is not None:
            return found
    return None


def emergency_metadata(metadata: dict | None) -> dict:
    """What the emergency reply carries: the local number (or None) and the others."""
    local = local_number(metadata)
    return {
        "local": None if local is None else {"number": local.number, "where": local.where},
        "others": [
            {"number": n.number, "where": n.where} for n in emergency_numbers() if n != local
        ],
    }


def with_numbers(response: dict, metadata: dict | None) -> dict:
    """The emergency response, with the numbers for this person in its metadata."""
    extra = {"emergency": emergency_metadata(metadata)}
    return {**response, "metadata": {**response.get("metadata", {}), **extra}}


def numbers_line(emergency: dict) -> str:
    """The numbers as one plain line, for channels that show only text (Telegram)."""
    others = ", ".join(f"{n['number']} in {n['where']}" for n in emergency["others"])
    local = emergency["local"]
    if local is None:
        return f"Emergency numbers: {others}."
    return f"In {local['where']}, call {local['number']}. Elsewhere: {others}."

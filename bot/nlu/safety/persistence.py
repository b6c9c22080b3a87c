"""Whether a message says the pain has lasted days or more: Duckling plus our cues.

Duckling (in-process) reads dates and spans. It prefers the future ("since march" ->
next March), so every date is moved back to its latest past occurrence, using the period
Duckling's own alternatives are spaced by (a year for months and holidays, a week for
weekdays, a month for "the 18th"). A date Duckling places only in the future, with no
alternatives ("friday the 13th"), is asked again from earlier days. A date counts only
when a word of time leads to it. data/safety/persistence.yml adds what Duckling misses:
short forms, bare plural units, and cues such as "on and off for months".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckling
import yaml
from dateutil.relativedelta import relativedelta
from rapidfuzz import fuzz, process

from bot import ROOT

PERSISTENCE_FILE = ROOT / "data" / "safety" / "persistence.yml"
# Dates are read in wall-clock time as if UTC, so only Etc/UTC is loaded (all zones: +47 MB).
ZONEINFO = "/usr/share/zoneinfo/Etc"
SECONDS_PER_DAY = 86400
# How far back (days) Duckling is asked again for a date it placed only in the future,
# and how far ahead that date must be: "this evening" or "tomorrow" is later, not an onset.
EARLIER_REFERENCES = (31, 92, 366)
FAR_FUTURE = timedelta(days=28)
# Duckling reads "last Tuesday", said on a Wednesday, as yesterday; people mean last week's.
LAST_WEEKDAY = re.compile(r"\blast (monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b")
# A date in a clause that speaks of the future ("what's the weather gonna be like this
# weekend", "i'll see the physio on friday") is a plan, not when the pain began.
FUTURE_CLAUSE = re.compile(r"\b(gonna|going to|will|'ll|shall|planning|plan to)\b[^.,;!?]*$")
# A date dates the pain only when a word of time leads to it ("since christmas", "over the
# weekend", "it started monday"), not as a noun's modifier ("my boss", "a winter coat",
# "the christmas tree"): Duckling reads "boss" as Boss's Day.
DATE_LEADS = re.compile(
    r"\b(since|from|at|around|round|about|over|on|in|of|during|through|throughout|after|"
    r"before|till|until|by|last|this|all|started|start|starting|began|begun|begin|ago|"
    r"back|early|late|mid)"
    r"\s+((the|my|our|a|an|this|that|last)\s+)?$"
)
DATE_WORDS = re.compile(r"^(since|from|last|this|past|ago|early|late|mid|over|all|\d)")
# A misspelt unit after a number ("4 weks", "2 mnths") is read as the closest unit. Not after
# "a": "a mouth ulcer" is not "a month".
TIME_UNITS = ("day", "days", "week", "weeks", "fortnight", "fortnights", "month", "months",
              "year", "years")  # fmt: skip
NUMBER_THEN_WORD = re.compile(
    r"\b(\d+|two|three|four|five|six|seven|eight|nine|ten|few|couple of)\s+([a-z]{3,10})\b"
)
UNIT_MIN_SIMILARITY = 85
# "78 years of age", "a 40 year old": an age, not how long the pain has lasted.
AGE_AFTER = re.compile(r"^[\s-]*(old|of age|young)\b")
# "10/10" is a pain score, not the tenth of October.
PAIN_SCORE = re.compile(r"^\d{1,2}\s*/\s*10\b")
# Words without which a message holds no date or span: Duckling is skipped (it costs ~0.5 ms).
TIME_HINT = re.compile(
    r"\d|since|ago|start|began|begun|day|week|month|year|night|fortnight|morning|summer|"
    r"winter|spring|autumn|fall|christmas|easter|halloween|thanksgiving|holiday|"
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun"
)


@dataclass(frozen=True)
class Persistence:
    days: float | None  # None when a cue, not a date, said so
    evidence: str


def _wall_clock(value: str) -> datetime:
    """A Duckling date as local wall-clock time (see _as_utc)."""
    return datetime.fromisoformat(value).replace(tzinfo=None)


def _past(value: str, alternatives: list[str], now: datetime) -> datetime | None:
    """The latest occurrence of a Duckling date that is not in the future."""
    when = _wall_clock(value)
    if when <= now:
        return when
    if len(alternatives) < 2:
        return None
    first, second = (_wall_clock(v) for v in alternatives[:2])
    period = second - first
    while when > now and period > timedelta(0):
        when = _shift_back(when, period)
    return when if when <= now else None


def _shift_back(when: datetime, period: timedelta) -> datetime:
    # Months and years are calendar steps (the 31st steps back to the 30th where needed).
    # Holidays on a lunar calendar (Diwali, Eid) come 354-385 days apart: a year's step.
    if period >= timedelta(days=300):
        return when - relativedelta(years=1)
    if period >= timedelta(days=28):
        return when - relativedelta(months=1)
    return when - period


def _start_of(entity: dict) -> tuple[str, list[str]] | None:
    value = entity["value"]
    if value.get("type") == "interval":
        if "from" not in value:
            return None
        alternatives = [v["from"]["value"] for v in value.get("values", []) if "from" in v]
        return value["from"]["value"], alternatives
    alternatives = [v["value"] for v in value.get("values", []) if "value" in v]
    return value["value"], alternatives


class PersistenceReader:
    def __init__(self, source: str | None = None) -> None:
        spec = yaml.safe_load(source or PERSISTENCE_FILE.read_text(encoding="utf-8"))
        self.after_days: float = spec["persistent_after_days"]
        self.abbreviations = re.compile(
            r"(?<=\d|\s)(" + "|".join(map(re.escape, spec["abbreviations"])) + r")\b"
        )
        self.expansions: dict[str, str] = spec["abbreviations"]
        self.cues = [re.compile(cue) for cue in spec["cues"]]
        # "since <an event>", or an onset put near one ("started around bonfire night").
        onset = r"\b(since|(started|start|began|begun|came on|kicked off) (around|round|about))"
        anchors = "|".join(map(re.escape, spec["recent_anchors"]))
        self.since_recent = re.compile(rf"{onset} (the |my |a )?({anchors})\b")
        self.since = re.compile(onset + r"\b")
        self.time_zones = duckling.load_time_zones(ZONEINFO)
        self.locale = duckling.default_locale_lang(duckling.parse_lang("EN"))
        self.dimensions = duckling.parse_dimensions(["time", "duration"])

    def read(self, text: str, now: datetime | None = None) -> Persistence | None:
        """What in `text` says the pain is persistent, or None."""
        text = self.abbreviations.sub(lambda m: self.expansions[m[1]], text.lower())
        text = NUMBER_THEN_WORD.sub(_unit_spelt_right, text)
        now = (now or datetime.now()).replace(microsecond=0)
        for cue in self.cues:
            found = cue.search(text)
            if found:
                return Persistence(None, found[0])
        if not TIME_HINT.search(text):
            return None
        dated = []
        for entity in self._parse(text, now):
            before = text[: entity["start"]]
            if entity["dim"] == "time" and (
                FUTURE_CLAUSE.search(before)
                or not (DATE_LEADS.search(before) or DATE_WORDS.match(entity["body"]))
                or PAIN_SCORE.match(entity["body"])
            ):
                continue
            if entity["dim"] == "duration" and AGE_AFTER.match(text[entity["end"] :]):
                continue
            days = self._days(entity, now)
            if days is None:
                continue
            if days >= self.after_days:
                return Persistence(round(days, 1), entity["body"])
            dated.append((entity["start"], entity["end"]))
        return self._since_undated(text, dated)

    def _parse(self, text: str, reference: datetime) -> list[dict]:
        """Duckling's entities in `text`, said at `reference` (wall-clock time)."""
        when = duckling.parse_ref_time(self.time_zones, "UTC", int(_as_utc(reference)))
        context = duckling.Context(when, self.locale)
        return duckling.parse(text, context, self.dimensions, False)

    def _earlier(self, body: str, now: datetime) -> datetime | None:
        """The latest past occurrence of a date Duckling placed only in the future."""
        for days_back in EARLIER_REFERENCES:
            for entity in self._parse(body, now - timedelta(days=days_back)):
                start = _start_of(entity) if entity["dim"] == "time" else None
                if start is not None:
                    when = _wall_clock(start[0])
                    if when <= now:
                        return when
        return None

    def _days(self, entity: dict, now: datetime) -> float | None:
        if entity["dim"] == "duration":
            return entity["value"]["normalized"]["value"] / SECONDS_PER_DAY
        # Any past date counts as when the pain began: in a chat about back pain, "a week
        # ago", "last month" or "since Friday" date the pain. Erring long only adds advice.
        start = _start_of(entity)
        if start is None:
            return None
        when = _past(*start, now)
        ahead = _wall_clock(start[0]) - now
        if when is None and ahead >= FAR_FUTURE:
            when = self._earlier(entity["body"], now)
        if when is None:
            return None
        # Days are counted as people count them: since Monday, on a Wednesday, is 3 days.
        days = math.ceil((now - when).total_seconds() / SECONDS_PER_DAY)
        return days + 7 if days < 7 and LAST_WEEKDAY.search(entity["body"]) else days

    def _since_undated(self, text: str, dated: list[tuple[int, int]]) -> Persistence | None:
        """'since <an event>' (or 'started around <an event>') that Duckling could not date
        and that is not recent."""
        for since in self.since.finditer(text):
            # A date Duckling read in or just after the onset words dates it ("started about
            # 2 hours ago": Duckling's "about 2 hours ago" overlaps "started about").
            if any(start < since.end() + 12 and since.start() < end for start, end in dated):
                continue
            if self.since_recent.match(text, since.start()):
                continue
            anchor = text[since.start() : since.start() + 40].split(",")[0]
            return Persistence(None, anchor.strip())
        return None


def _unit_spelt_right(found: re.Match) -> str:
    word = found[2]
    if word in TIME_UNITS:
        return found[0]
    unit = process.extractOne(word, TIME_UNITS, scorer=fuzz.ratio, score_cutoff=UNIT_MIN_SIMILARITY)
    if unit is None:
        return found[0]
    return found[0][: found.start(2) - found.start()] + unit[0]


def _as_utc(now: datetime) -> float:
    # Duckling gets the wall-clock time as if it were UTC, so dates come back in local time.
    return (now - datetime(1970, 1, 1)).total_seconds()

"""How many days a duration phrase found by the entity ruler stands for."""

from __future__ import annotations

import re
from datetime import date

UNIT_DAYS = {
    "min": 1 / 1440,
    "minute": 1 / 1440,
    "h": 1 / 24,
    "hr": 1 / 24,
    "hour": 1 / 24,
    "d": 1,
    "day": 1,
    "night": 1,
    "w": 7,
    "wk": 7,
    "week": 7,
    "weekend": 2,
    "fortnight": 14,
    "mth": 30,
    "month": 30,
    "y": 365,
    "yr": 365,
    "year": 365,
}
WORD_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "couple": 2,
    "three": 3,
    "few": 3,
    "several": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "many": 5,
    "half": 0.5,
}
# "for days", "for weeks": an unnamed count of at least a few.
BARE_PLURAL_COUNT = 3
MONTHS = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
]  # fmt: skip
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# Seasons, counted from their first month in the northern hemisphere.
SEASON_START_MONTH = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
RELATIVE_DAYS = {
    "today": 0,
    "tonight": 0,
    "morning": 0,
    "afternoon": 0,
    "evening": 0,
    "start": 0,
    "yesterday": 1,
    "night": 1,
    "christmas": None,  # resolved against the date below
}

UNIT_PATTERN = re.compile(
    r"(?P<count>\d+(?:\.\d+)?(?:[-/]\d+)?|[a-z]+)?\s*(?:of\s+|or\s+\S+\s+|and\s+a\s+)?"
    r"(?P<unit>mins?|minutes?|hrs?|hours?|days?|d|nights?|weeks?|wks?|w|weekends?|"
    r"fortnights?|months?|mths?|years?|yrs?|y)\b"
)


def _unit_days(unit: str) -> float:
    singular = unit[:-1] if unit.endswith("s") and unit[:-1] in UNIT_DAYS else unit
    return UNIT_DAYS[singular]


def _count(word: str | None) -> float | None:
    if word is None:
        return None
    if word[0].isdigit():
        # "2-3 weeks" counts as the longer end: safer when deciding about a doctor.
        return float(re.split(r"[-/]", word)[-1])
    return WORD_NUMBERS.get(word)


def _days_since_month(month: int, today: date) -> int:
    year = today.year if month <= today.month else today.year - 1
    return (today - date(year, month, 1)).days


def _days_since_named(word: str, today: date) -> int | None:
    if word[:3] in MONTHS:
        return _days_since_month(MONTHS.index(word[:3]) + 1, today)
    if word in WEEKDAYS or word == "weekend":
        weekday = WEEKDAYS.index("saturday" if word == "weekend" else word)
        return (today.weekday() - weekday) % 7 or 7
    if word in SEASON_START_MONTH:
        return _days_since_month(SEASON_START_MONTH[word], today)
    if word == "christmas":
        year = today.year if (today.month, today.day) >= (12, 25) else today.year - 1
        return (today - date(year, 12, 25)).days
    return RELATIVE_DAYS.get(word)


def days_in(phrase: str, today: date | None = None) -> float | None:
    """Days covered by `phrase` ("3 weeks", "since march", "a week now"), or None."""
    today = today or date.today()
    words = phrase.lower().split()
    if not words:
        return None
    if words[0] in ("since", "started") or words[0] in ("last", "this", "past"):
        last = words[-1]
        if words[-2:-1] in (["last"], ["past"]) and last in UNIT_DAYS:
            return UNIT_DAYS[last]
        return _days_since_named(last, today)
    if words[0] in ("for", "over", "in") and len(words) == 2:
        return BARE_PLURAL_COUNT * _unit_days(words[1])
    match = UNIT_PATTERN.search(phrase.lower())
    if match is None:
        return None
    count = _count(match["count"])
    return (1 if count is None else count) * _unit_days(match["unit"])

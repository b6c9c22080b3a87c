"""The knowledge file is complete, traceable to the article, and plain."""

from __future__ import annotations

import re

import pytest
import textstat
from helpers.make_plan import make_train_plan

from bot.knowledge import KNOWLEDGE_DIR, asked_and_mentioned, knowledge_base, sources_metadata
from bot.nlu.topic_entities import topic_phrases
from ops.launcher import ROOT

ARTICLE = (KNOWLEDGE_DIR / "source_article.txt").read_text(encoding="utf-8")
SHARED_ARTICLE = ROOT.parent / "shared" / "source" / "upper-back-spasms-article.txt"
KNOWLEDGE = knowledge_base()
ALL_ENTRIES = list(KNOWLEDGE.entries.values()) + list(KNOWLEDGE.advice.values())
ENTRY_IDS = [e.id for e in ALL_ENTRIES]


def normalise(text: str) -> str:
    return " ".join(text.replace("’", "'").split()).lower()


def headings() -> list[str]:
    """Article headings: short lines that are not sentences, lead-ins or list items."""
    lines = [line.strip() for line in ARTICLE.splitlines()]
    return [
        line
        for line in lines[1:]
        if line
        and len(line) < 90
        and not re.search(r"\w\. \w|\.$", re.sub(r"^Q\d\. ", "", line))
        and not line.startswith(("•", "Following"))
    ]


def is_subsection(heading: str) -> bool:
    return heading.endswith(":") or re.match(r"Q\d\.", heading) is not None


def sections() -> dict[str, str]:
    """Heading -> its text: a subsection up to the next heading, a top-level section
    ("What Causes Upper Back Spasms?") up to the next top-level one."""
    found: dict[str, str] = {}
    open_headings: list[str] = []
    for line in ARTICLE.splitlines():
        heading = line.strip()
        if heading in HEADINGS:
            open_headings = [h for h in open_headings if not is_subsection(h)]
            if not is_subsection(heading) or re.match(r"Q\d\.", heading):
                open_headings = []
            open_headings.append(heading)
            found[heading] = ""
            continue
        for open_heading in open_headings:
            found[open_heading] += " " + line
    return found


HEADINGS = headings()
SECTIONS = sections()


def test_the_repo_copy_of_the_article_is_the_source():
    if not SHARED_ARTICLE.exists():
        pytest.skip("shared/ source is not beside this checkout")
    assert SHARED_ARTICLE.read_text(encoding="utf-8") == ARTICLE


def test_the_issue_lists_every_section_and_the_file_has_them():
    by_category: dict[str, int] = {}
    for entry in KNOWLEDGE.entries.values():
        if entry.topics or entry.category in ("diagnostic_tests", "seeing_a_doctor"):
            by_category[entry.category] = by_category.get(entry.category, 0) + 1
    assert by_category == {
        "causes": 7,
        "symptoms": 4,
        "relief": 4,
        "prevention": 3,
        "diagnostic_tests": 1,
        "seeing_a_doctor": 1,
    }
    assert KNOWLEDGE.categories["prevention"].overview == "prevention_tips"


def test_every_subsection_heading_of_the_article_has_an_entry():
    subsections = [h for h in HEADINGS if is_subsection(h)]
    named = {entry.heading for entry in ALL_ENTRIES}
    assert len(subsections) == 15
    assert [h for h in subsections if h not in named] == []


def test_every_section_without_a_heading_has_an_entry():
    # The article leaves some sections without a heading: a paragraph after a double gap.
    blocks = re.split(r"\n\s*\n\s*\n", ARTICLE)[1:]
    paragraphs = [b.strip().split("\n")[0] for b in blocks]
    headless = [p for p in paragraphs if p not in HEADINGS and not re.match(r"Q\d\.", p)]
    assert len(headless) == 7
    excerpts = [normalise(e.excerpt) for e in ALL_ENTRIES]
    uncovered = [p for p in headless if not any(x in normalise(p) for x in excerpts)]
    assert uncovered == []


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=ENTRY_IDS)
def test_entry_names_a_real_heading_and_quotes_its_section(entry):
    assert entry.heading in HEADINGS
    assert normalise(entry.excerpt) in normalise(SECTIONS[entry.heading])


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=ENTRY_IDS)
def test_answer_is_short_and_plain(entry):
    assert 2 <= textstat.sentence_count(entry.answer) <= 4
    assert textstat.flesch_kincaid_grade(entry.answer) <= 8


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=ENTRY_IDS)
def test_follow_ups_are_two_or_three_real_entries(entry):
    assert 2 <= len(entry.follow_ups) <= 3
    assert all(f in KNOWLEDGE.entries and f != entry.id for f in entry.follow_ups)


@pytest.mark.parametrize("entry", KNOWLEDGE.entries.values(), ids=list(KNOWLEDGE.entries))
def test_button_payload_asks_for_the_entry_itself(entry):
    category = KNOWLEDGE.categories[entry.category]
    payload = KNOWLEDGE.button_payload(entry)
    topics = re.findall(r'"topic": "(\w+)"', payload)
    assert payload.startswith(f"/{category.intent}")
    assert KNOWLEDGE.select(entry.category, topics) == entry


def test_article_typos_and_overstatements_are_gone():
    answers = normalise(" ".join(e.answer for e in ALL_ENTRIES))
    # What readers see: the answers, and the section names in their source lines.
    shown_sections = normalise(" ".join(sources_metadata(e)["sources"][0] for e in ALL_ENTRIES))
    for wrong in ("quick smoking", "simple message", "temporary replacement"):
        assert wrong in normalise(ARTICLE)
        assert wrong not in answers
        assert wrong not in shown_sections
    for alarmist in ("bedridden", "throughout your life", "lifelong", "permanently"):
        assert alarmist not in answers
    assert "quitting smoking" in answers
    assert "massage" in normalise(KNOWLEDGE.entries["when_to_see_doctor"].answer)


def test_article_facts_are_kept():
    ice_and_heat = normalise(KNOWLEDGE.entries["ice_and_heat"].answer)
    assert all(fact in ice_and_heat for fact in ("swollen", "48 hours", "20 minutes"))
    tests = normalise(KNOWLEDGE.entries["diagnostic_tests"].answer)
    assert all(t in tests for t in ("x-ray", "mri", "ct scan", "emg", "blood test"))
    rest = normalise(KNOWLEDGE.entries["rest_at_intervals"].answer)
    assert "do not rest for too long" in rest


def test_every_answer_about_medicine_sends_the_user_to_a_professional_first():
    mentions_medicine = [e for e in ALL_ENTRIES if "medicine" in e.answer.lower()]
    assert len(mentions_medicine) >= 3
    for entry in mentions_medicine:
        assert re.search(r"doctor|pharmacist|physician", entry.answer, re.IGNORECASE), entry.id


def test_topic_words_lead_to_existing_entries():
    used = {t for e in KNOWLEDGE.entries.values() for t in e.topics}
    assert used == set(topic_phrases())


def test_rewording_an_answer_rebuilds_nothing():
    assert make_train_plan("data/knowledge/upper_back_spasms.yml") == make_train_plan()


def test_changing_a_topic_word_rebuilds_the_spacy_pipeline_and_retrains():
    plan = make_train_plan("data/lexicon/topics.yml")
    assert "ops.spacy_pipeline.build" in plan and "rasa train" in plan


def topics_at(text: str, **words: str) -> list[tuple[str, int]]:
    """(topic, offset) for each word of `text` named as word=topic."""
    return sorted(((topic, text.index(word)) for word, topic in words.items()), key=lambda t: t[1])


@pytest.mark.parametrize(
    ("text", "words", "intent", "expected"),
    [
        # The question's topic wins over the statement's.
        ("sore after the gym, ice or heat?", {"gym": "lifting", "heat": "ice_and_heat"},
         "ask_relief", "ice_and_heat"),
        # A statement's topic outside the asked category gives way to that category.
        ("hurt it lifting the kids, what can i do", {"lifting": "lifting"},
         "ask_relief", "relief_overview"),
        ("tried heat all week. should i see a doctor", {"heat": "ice_and_heat"},
         "ask_when_to_see_doctor", "when_to_see_doctor"),
        # ...but answers when it is in the asked category.
        ("lifting boxes at work, how do i stop it happening", {"lifting": "lifting"},
         "ask_prevention", "posture_and_lifting"),
        # With no question every topic counts, and a topic may cross categories.
        ("my back went from lifting boxes", {"lifting": "lifting"}, "ask_causes",
         "improper_lifting"),
        ("do stretches help?", {"stretches": "exercise"}, "ask_relief", "exercise_and_yoga"),
    ],
)  # fmt: skip
def test_the_question_wins_over_the_statement(text, words, intent, expected):
    asked, mentioned = asked_and_mentioned(text, topics_at(text, **words))
    entry = KNOWLEDGE.select(KNOWLEDGE.category_for_intent(intent), asked, mentioned)
    assert entry.id == expected

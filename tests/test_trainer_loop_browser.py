"""The trainer's loop in Debian's Chromium, against the real workbench and the real bot:
a 👎 in the chat reaches the inbox with its context, a careless label is warned about and
undone, a retrain that fails a gate keeps the live model and says why, and one that passes
is promoted and answered with by the running bot, without a restart."""

from __future__ import annotations

import pytest
from helpers.chat_page import DESKTOP, PHONE, REPLY_TIMEOUT_MS, ChatPage
from helpers.servers import OUTPUT_DIR, RestClient
from helpers.trainer_projects import project_with_model, trainer
from helpers.workbench import (
    PASSING_VIGNETTES,
    axe_violations,
    bot_for,
    bot_parse,
    bot_status,
    feedback_rows,
    log_in,
    user_turns,
    workbench,
    write_vignettes,
)
from playwright.sync_api import expect

from trainer.examples import project_examples
from trainer.inbox import DEFAULT_THRESHOLD, Inbox
from trainer.promotion import model_id

pytestmark = pytest.mark.browser

# The bot answers it with the relief answer; a user still says 👎.
DISLIKED = "how do i loosen a knot near my shoulder blades"
# Relief questions in words the training data does not use. The tests take the one the live
# model is least sure of: the inbox lists it (under its threshold), and labelling it teaches it.
UNSURE_CANDIDATES = (
    "how do i sort out a knot by my shoulder blade",
    "how to undo a knot near the shoulder blade",
    "any way to get a knot by my shoulder blade to let go",
    "what sorts out a tight knot up by my shoulder blade",
    "what settles a knot by the shoulder blade",
    "what shifts a knot under the shoulder blade",
)
RETRAIN_TIMEOUT_MS = 20 * 60_000
SCREENSHOTS = OUTPUT_DIR / "trainer"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = project_with_model(tmp_path_factory.mktemp("loop") / "bot")
    write_vignettes(project, PASSING_VIGNETTES)
    return project


@pytest.fixture(scope="module")
def live_bot(project):
    db = project.root / "conversations.db"
    with bot_for(project, db, OUTPUT_DIR / "logs" / "trainer-loop") as server:
        yield server


@pytest.fixture(scope="module")
def bench(project, live_bot):
    with workbench(project, live_bot.settings.database_url, live_bot.url) as url:
        yield url


@pytest.fixture(scope="module")
def unsure(live_bot) -> tuple[str, float]:
    """The relief question the live model answers but is least sure of, and how sure it is."""
    guesses = [(text, bot_parse(live_bot, text)["intent"]) for text in UNSURE_CANDIDATES]
    answered = [guess for guess in guesses if guess[1]["name"] == "ask_relief"]
    assert answered, guesses
    text, intent = min(answered, key=lambda guess: guess[1]["confidence"])
    assert intent["confidence"] < DEFAULT_THRESHOLD, guesses
    return text, intent["confidence"]


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_thumbs_down_reaches_the_inbox_and_a_careless_label_is_warned_and_undone(
    browser, project, live_bot, bench, responses, unsure
):
    asked, confidence = unsure
    chat = ChatPage(browser, live_bot.url)
    try:
        chat.wait_for_greeting(responses["utter_greet"])
        chat.say(asked)
        expect(chat.page.locator(".feedback")).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
        chat.say(DISLIKED)
        expect(chat.page.locator(".feedback")).to_have_count(2, timeout=REPLY_TIMEOUT_MS)
        rated = chat.page.locator(".feedback").last
        rated.get_by_role("button", name="Not helpful").click()
        chat.page.get_by_role("button", name="Hard to read").click()
        expect(chat.page.get_by_text("Thanks for telling us.")).to_be_visible()
        assert chat.axe_violations() == [], "chat after feedback"
        shot(chat.page, "chat-feedback")
        # The page thanks at once; closing it before the rating is stored could lose it.
        stored = feedback_rows(live_bot.settings.database_url, at_least=2)
    finally:
        chat.close()
    assert [(f["rating"], f["reason"]) for f in stored] == [
        ("down", None),
        ("down", "hard_to_read"),
    ]
    # README's count per topic: the 👎 and its reason count once, under the answer's section.
    counted = trainer(project, "--db", live_bot.settings.database_url, "feedback")
    assert counted.returncode == 0, counted.stderr
    [row] = [line for line in counted.stdout.splitlines() if "Relief" in line]
    assert row.split()[-2:] == ["0", "1"]

    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{bench}/login")
        assert axe_violations(page) == [], "login page"
        log_in(page, bench)
        cards = page.locator("article[data-item]")
        first = cards.first
        # 👎 first, with the conversation around it; then the unsure one.
        expect(first).to_contain_text("not helpful 👎: hard to read")
        expect(first.locator(".context")).to_contain_text(DISLIKED)
        expect(first.locator(".context")).to_contain_text("Bot:")
        expect(card(page, asked)).to_contain_text(f"only {confidence:.0%} sure")
        # Nothing is chosen for the trainer.
        select = first.get_by_label("What did the person want?")
        assert select.input_value() == ""
        assert axe_violations(page) == [], "inbox"

        select.select_option("out_of_scope")
        expect(first.locator(".intent-help")).to_contain_text("Another health problem")
        first.get_by_role("button", name="Label").click()
        warning = first.locator(".warning")
        expect(warning).to_contain_text("almost the same as")
        expect(warning).to_contain_text("How to ease the pain")
        shot(page, "inbox-warning")
        assert axe_violations(page) == [], "inbox with a warning"
        assert ("out_of_scope", DISLIKED) not in pairs(project)  # nothing changed yet

        warning.get_by_role("button", name="Label it anyway").click()
        expect(first).to_contain_text("Labelled", timeout=60_000)
        assert ("out_of_scope", DISLIKED) in pairs(project)

        page.get_by_role("link", name="History").click()
        row = page.locator("tr", has_text=DISLIKED)
        expect(row).to_contain_text("Sam Trainer")
        expect(row).to_contain_text("Labelled an inbox message")
        assert axe_violations(page) == [], "history"
        row.get_by_role("button", name="Undo").click()
        expect(row).to_contain_text("Undone", timeout=60_000)
        assert ("out_of_scope", DISLIKED) not in pairs(project)

        page.get_by_role("link", name="Inbox").click()
        expect(card(page, DISLIKED)).to_have_count(1)
        for size, name in ((PHONE["viewport"], "phone"), ({"width": 360, "height": 740}, "360")):
            page.set_viewport_size(size)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], f"wider than the screen at {name}"
            assert axe_violations(page) == [], f"inbox at {name}"
        shot(page, "inbox-360")
    finally:
        context.close()


def card(page, text: str):
    """The inbox card for the message `text` (others may quote it in their context)."""
    return page.locator("article", has=page.locator(".message", has_text=text))


def pairs(project) -> set[tuple[str, str]]:
    return {(e.intent, e.text) for e in project_examples(project)}


def test_a_retrain_that_passes_is_promoted_and_the_running_bot_uses_it(
    browser, project, live_bot, bench, unsure
):
    asked = unsure[0]
    before = model_id(project.model)
    assert bot_status(live_bot)["model_id"] == before
    rest = RestClient(live_bot.rest_url)
    rest.send("before-promotion", asked)  # so it is in the inbox, whichever test ran first
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        log_in(page, bench)
        # Once labelled, the card holds only the outcome, so it is found by its id.
        asked_card = page.locator(f'[data-item="{card(page, asked).get_attribute("data-item")}"]')
        asked_card.get_by_label("What did the person want?").select_option("ask_relief")
        asked_card.get_by_role("button", name="Label").click()
        expect(asked_card).to_contain_text("Labelled", timeout=60_000)

        page.get_by_role("link", name="Model").click()
        expect(page.locator("#live")).to_contain_text("built by a developer")
        assert axe_violations(page) == [], "model page"
        page.get_by_role("button", name="Retrain and check").click()
        status = page.locator("[data-status]").first
        expect(status).to_contain_text("Training a candidate", timeout=120_000)
        expect(page.locator("#outcome")).to_contain_text("Promoted", timeout=RETRAIN_TIMEOUT_MS)
        expect(page.locator("#outcome")).to_contain_text("now answers with the new model")
        shot(page, "model-promoted")
        assert axe_violations(page) == [], "model page after promotion"
        page.reload()
        expect(page.locator("#live")).to_contain_text("live since")
    finally:
        context.close()

    # The running bot answers with the promoted model, with no restart.
    after = model_id(project.model)
    assert after != before and bot_status(live_bot)["model_id"] == after
    rest.send("after-promotion", asked)
    turns = user_turns(live_bot.settings.database_url, asked)
    first, last = turns[0], turns[-1]
    assert last["intent"]["name"] == "ask_relief"
    assert last["intent"]["confidence"] > first["intent"]["confidence"] + 0.1


def test_a_retrain_that_fails_the_gate_keeps_the_live_model_and_says_why(browser, tmp_path):
    project = project_with_model(tmp_path / "bot")
    live_bytes = project.model.read_bytes()
    db_url = f"sqlite:///{tmp_path / 'conversations.db'}"
    # A careless trainer teaches a relief question as prevention, through the journal...
    Inbox(project, db_url).add(
        "ask_prevention", "what eases the pain straight away", reviewer="Careless", validate=False
    )
    # ...and every relief example ends up under prevention too.
    relief = project.nlu_dir / "relief.yml"
    relief.write_text(
        relief.read_text().replace("- intent: ask_relief", "- intent: ask_prevention")
    )
    with workbench(project, db_url) as url:
        context = browser.new_context(**DESKTOP)
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            log_in(page, url)
            page.get_by_role("link", name="Model").click()
            page.get_by_role("button", name="Retrain and check").click()
            outcome = page.locator("#outcome")
            expect(outcome).to_contain_text("Not promoted", timeout=RETRAIN_TIMEOUT_MS)
            expect(outcome).to_have_attribute("role", "alert")
            expect(outcome).to_have_class("notice failed")
            expect(outcome).to_contain_text("The live model stays")
            expect(outcome).to_contain_text("ask_relief")  # the intent that got worse
            expect(outcome).to_contain_text("what eases the pain straight away")  # its cause
            expect(outcome).to_contain_text("Careless")
            expect(outcome).to_contain_text("What to do next")
            shot(page, "model-failed")
            assert axe_violations(page) == [], "model page after a failed gate"
        finally:
            context.close()
    assert project.model.read_bytes() == live_bytes
    assert not project.live_record.exists()

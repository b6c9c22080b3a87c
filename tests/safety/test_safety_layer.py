"""The safety layer in-process: concepts, ConText, persistence and the decision.

Sentences here are written for these tests (never copied from the vignettes). Each names a
class of wording the layer must read; `make safety-report` measures it on the vignettes.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
import spacy

from bot import ROOT
from bot.nlu.safety.assessor import SafetyAssessor
from bot.nlu.safety.classifier import SafetyClassifier, fit_pipeline, read_paraphrases
from bot.nlu.safety.persistence import PersistenceReader

# Wednesday 25 November 2026, as in the vignettes.
NOW = datetime(2026, 11, 25, 10, 0)


@pytest.fixture(scope="module")
def nlp():
    return spacy.load(ROOT / "models" / "spacy" / "en_upper_back")


@pytest.fixture(scope="module")
def assessor(nlp):
    classifier = SafetyClassifier.train(read_paraphrases(), ["what helps a stiff upper back"])
    return SafetyAssessor(nlp, classifier, triage_confidence=0.7)


@pytest.fixture
def decide(nlp, assessor):
    # Rasa's SpacyNLP lowercases the text before spaCy sees it.
    return lambda text: assessor.assess(nlp(text.lower()), NOW)["decision"]


@pytest.mark.parametrize(
    "text",
    [
        "my chest feels heavy and my back is spasming",
        "i think there's a weight pressing on my chest",
        "ice or heat? also my chest feels tight",  # a red flag after a question
        "cant get air in properly",
        "my hand went dead an hour ago",
        "my legs feel like jelly when i stand",
        "i wet myself without noticing",
        "never had chest pain like this before",  # emphasis, not a denial
        "i don't normally faint but i just did",
        "rear-ended on the motorway this morning and now my back is in spasm",
        "chset pain and my back hurts",  # a typo
        "numbess in both hands",
        "my foot has gone totally dead",  # "gone" + a state is an onset, not a resolution
        "all of a sudden a crippling pain between my shoulders",  # sudden x severe, any words
        "short of wind just sitting here",
        # Small words spelt as people say them: "me"/"ma" for "my", "outta", "cannae",
        # negatives written out in full.
        "cannae catch me breath at all",
        "ma legs have gone numb",
        "came outta nowhere, 10 outta 10 pain",
        "i could not grip the mug with my left hand",
        "i was not able to lift my arm this morning",
        # Families of wording: legs folding, weight images on the chest, formal and clinical
        # words, superlatives, falls from steps and people hit while walking.
        "my knees crumpled under me on the landing",
        "feels like a man is standing on my chest",
        "perspiring and bilious with this back pain",
        "i'm dyspnoeic sat here doing nothing",
        "strongest pain i have ever felt, all at once",
        "took a tumble from the step ladder an hour ago",
        "a van clipped me on the zebra crossing",
        "i've messed myself and never felt it coming",
        "i have chest pain right now, none of that numbness though",  # "now" ends the denial
        "my knees went weak and i went down in the kitchen",  # the idioms above stay narrow
        "blacked out in the shower and hit my head",
        # Real-word slips that complete a pattern, words inside a term, events dated minutes
        # ago beside "if" or a past cue, and a concession after exercise.
        "no control of my bowls since lunch",
        "i felt feint on the stairs",
        "i have lost all the feeling in my right foot",
        "is heat ok if i passed out in the car park 10 minutes ago",
        "i collapsed at work an hour ago, back was in bits before that",
        "drenched in a cold sweat although the run ended an hour back",
        # Heavy-material similes, "air" that is hard to get, head-first impacts, and a limb
        # "without feeling" (a symptom, not a denial).
        "both arms feel like they're full of concrete",
        "can't get enough air in even lying down",
        "landed head first off the trampoline and my back's been spasming since",
        "my left foot is without feeling since lunch",
        # Advice asked given a symptom now, everyday tasks a limb can't do, odd limb words,
        # breath "not coming", trauma of every kind, and admissions.
        "is it safe to do my stretches if my arm has gone numb",
        "couldn't manage the stairs this morning, my legs just wouldn't",
        "my fingers are all fuzzy and my hand has no grip",
        "the air is not coming in properly even when i sit still",
        "a lorry went into the back of us at the lights",
        "got beaten up outside the pub and now my upper back is locked",
        "fell down the stairs at work and landed on my upper back",
        "i almost passed out in the queue",
        "i'm embarrassed to say i've had an accident in my pants today",
        "an odd oppressive sensation in the middle of my chest",
        # Loss of use told as an image; impacts made serious by speed, height or weight.
        "my fingers feel like they're in thick gloves and my back is seizing",
        "my right leg won't do what i want it to since the spasm started",
        "came off the scaffolding at work onto my back about an hour ago",
        "collided with a defender at full speed and my upper back went into spasm",
        "fell about three metres off the loft ladder onto my back",
        "a heavy wardrobe toppled onto me while we were moving it",
        # Breath in sports slang, sickness told politely, clammy skin told plainly.
        "sucking air like a fish and my back is in spasm",
        "i have brought up my breakfast and my upper back aches terribly",
        "i feel cold and clammy and the ache in my back is awful",
        # How fast severe pain came: "from nothing to", an image of tearing.
        "it went from nothing to agony in an instant between my shoulders",
        "felt like my back was being unzipped down the middle",
        # Wetting told formally; Pidgin "no fit" is "can't".
        "i urinated on myself in the kitchen and did not notice",
        "i no fit hold my urine since this morning",
        # A resolution denied is still there.
        "my arm is numb and it hasn't gone away",
        "the chest tightness won't ease off",
        "my legs are weak and it's not settled down at all",
        # Round 8b: ongoing since a time, breath that cuts speech short, homophones and dialect
        # words, bowel and bladder told in other Englishes, falls at work, "out for" a time.
        "my hand has been tingling since yesterday",
        "i can't get my words out without stopping for breath",
        "both my feat went numb on the bus",
        "i past out in the shower earlier",
        "my legs went fae under me in the kitchen",
        "urine no gree pass since morning and my back dey pain me",
        "stool came in my pants without knowing while the back spasm was on",
        "came off a forklift onto the concrete and my upper back is in spasm",
        "i was out for about a minute after the spasm hit",
        # Round 8c: pain scores past ten, a gunshot of an onset, hurling, an RTA, the big C.
        "the pain in my upper back is 11/10 right now",
        "it struck like lightning, unbearable, between my shoulder blades",
        "i think i'm going to hurl and my back is in spasm",
        "had an rta on the way to work and my upper back is spasming",
        # Round 10: a squeezing verb in any form, severity nouns, no pain close to it,
        # found on the floor by someone else, a fall the writer did not know of.
        "it feels like something is clutching my chest from inside",
        "a sudden pain of incredible severity hit my back at work",
        "nothing i've ever had comes close to this back pain",
        "my flatmate found me on the kitchen floor and my back is agony",
        "i went down without realising and now my upper back is sore",
        # Round 11: a limb that lets go or will not obey, struck like an axe, a car that hit
        # me, landing on the back from a height, soiling in clothes, air in sips, sliding off
        # a chair, the room going dark a few words on.
        "my left hand keeps letting go of my mug",
        "my foot does not obey me since this morning",
        "suddenly it felt like a sledgehammer in my back",
        "a taxi clipped me at the lights and my back is in spasm",
        "came off the stepladder and landed flat on my back on the patio",
        "i have gone in my trousers and did not feel it",
        "i can only get little sips of air in",
        "i slid off my chair at work and my back is screaming",
        "everything in the room started going dark at the edges",
    ],
)
def test_red_flags_get_the_emergency_reply(decide, text):
    assert decide(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "no chest pain",
        "neither numb nor tingly",
        "zero numbness",
        "nothing like chest pain, just a knot",
        "chest pain? no",
        "the tingling went away after an hour",
        "i threw up last week but that's over now",
        "i had a car accident 10 years ago",
        "my dad had a heart attack",
        "my wife's hands go numb at night",
        "what if i get chest pain?",
        "could a spasm make you faint?",
        "sweaty after the gym and my back is tight",
        "a faint ache between my shoulders",
        "sick and tired of this knot",
        "i can't turn my neck properly",
        "feeling weak and tired after a long week",
        "so much pressure at work lately",
        "my fingers used to tingle at night in my twenties, not lately",  # a trailing "not lately"
        "the wind is cold and i can't stretch properly",  # wind is breath only as "short of wind"
        "none of that chest tightness business, it's only my upper back",
        "ah've nae tingling in ma fingers",  # Scots "nae" denies
        "ran out of painkillers and my back is sore",  # running out, not running
        "i can't finish a shift without my back aching",
        "ma had a heart attack last year",  # "ma" before a person's event is mother
        # Symptom words inside everyday nouns and idioms of feeling.
        "fitted blackout curtains in the nursery and pulled something in my upper back",
        "the power blackout meant i slept in the armchair, now my back is knotted",
        "i still go weak at the knees for my wife after 30 years, but my upper back is stiff",
        # Family words as families use them, and what someone read about a symptom.
        "my momma gets chest pains, i'm asking about my own stiff back",
        "pops keeps passing out, the doctors are on it. what helps a knotted back?",
        "i read online that numb legs with back pain is serious, is it?",
        "i painted the ceiling all weekend and now my upper back aches",  # not "panting"
        # Past habits, past causes asked about, a head rush, general questions, signs to
        # watch for, and cold air or a crash course as causes.
        "i used to get numb fingers from my paper round as a teenager, is my back the same?",
        "could all that coughing last month have pulled something in my upper back",
        "went dizzy for a sec after getting up too quickly from the sofa, fine now",
        "can bad upper back spasms ever cause chest pain?",
        "the physio told me to look out for numbness or weak legs, i have neither",
        "the air con at work is freezing cold and my upper back is tight",
        "doing a crash course in yoga for my stiff upper back, good idea?",
        # Fiction, other people in the plural, denials after a question, long general
        # questions, and idioms of fright and pressure.
        "in the film last night the hero loses all feeling in his legs, could that happen?",
        "two of my patients had numb hands this week, is that common with back spasms",
        "numbness? not a bit of it, just a stiff upper back",
        "can a knot in the upper back muscles ever give you pins and needles down the arm",
        "my toddler nearly gave me a heart attack climbing the bookcase and i jarred my back",
        "stress at work is through the roof and my upper back is in knots",
        # Posture, ratings and the temperature of things.
        "i slumped in my chair gaming all night and now my upper back is knotted",
        "10/10 would recommend this heat pad for a tight upper back",
        "is a shower at 39 degrees ok for a stiff upper back",
        # Resolved, even after a past cue in the same sentence; an age then; general
        # questions; idioms of tiredness and laughter; a cancer asked about, not had.
        "my chest was sore when i had flu but that has completely gone now",
        "the pins and needles in my fingers were gone by the afternoon",
        "when i was 19 i came off my bike, now at 45 my upper back is tight",
        "in my thirties my hands would go numb at night, is it related to my upper back?",
        "is it normal for a back spasm to make breathing feel tight?",
        "absolutely dead on my feet after the double shift, back is stiff",
        "we were breathless with laughter all night and now my back is sore from dancing",
        "is it cancer? my upper back has ached for two days",
        # A denied resolution must not swallow a plain denial.
        "i haven't passed out or anything, my back is just stiff",
        "my arm hasn't gone numb, it's only my upper back",
        "went out for a jog and was out for the whole afternoon, now my upper back aches",
        "my nonna's legs go weak on the stairs, is that like my back spasm?",
        "i've read that chest pain can come from the upper back muscles, is that right?",
        "does a heat pad work for my back and shoulders?",
        "been sweating over the accounts all week, upper back knotted",
        "the puppy was sick in the car and i twisted my back cleaning it",
        "what does tingling in the fingers mean in general?",
        # Round 10: denials in other Englishes, a general "how would I know", idioms.
        "my back is in bits but the chest is grand and the breathing is sound",
        "how can you tell if numbness in your hands is serious?",
        "the kids give me heart attacks on the trampoline, and my back hurts",
        "tingly with anticipation before the match, upper back a bit stiff",
        # Round 11: general questions, dead tired.
        "is there a link between numbness and back spasms in general?",
        "when is a tearing pain in the back serious? mine is just a dull ache",
        "can chest pain ever come with a back spasm?",
        "arms dead tired from the gym, back a bit stiff",
    ],
)
def test_denied_past_other_hypothetical_and_idiomatic_mentions_are_not_emergencies(decide, text):
    assert decide(text) != "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "temp of 38.9 and shivering",
        "i've had lymphoma",
        "a melanoma was removed two years ago",  # a past cancer still counts
        "the pain wakes me at 3am",
        "it gets worse once i lie down at night",
        "resting does nothing",
        "painkillers aren't touching it",
        "lost a stone without trying",
        "the thermometer says 38.6",  # a reading is not hearsay
        "neither stretching nor heat pads made a difference",  # remedies listed, none helped
        "cant get comfy in bed at night with this back",
        "not been trying but the weight is dropping off me",
        "my jeans are falling off me and i haven't been dieting",
        "mother of three, treated for breast cancer in 2015, now a new pain in my upper back",
        "it's not easing one bit after a day in bed",
        "my teeth are chattering and my back is killing me",
        "lost half a stone without meaning to, is that linked to my back?",
        "none of the heat, the tablets or the rest have made a dent in it",
        "back is killing me and i'm at 38.4 tonight",  # a reading needs no "temp"
        "lying flat makes it throb every night",
        "heat, massage, the tablets: no improvement whatsoever",
        "the pain is not reducing with any tablet",
        "once i lie down at night it flares up badly",
        "neither rest nor the gel did a thing",
        "my weight is reducing and i am not dieting",
        "woke three times last night with the ache",
        "painkillers aren't cutting it any more",
        "i'm 5 kg lighter and i have no idea why",
        "a history of hodgkin's lymphoma as a teenager",
        # Round 10: lying in bed, a few words before "worse".
        "when i lie in bed on my side the whole upper back gets worse",
        # Round 11: not one thing has worked; no tablet makes a difference; feverish words.
        "heat, rest, stretching: not one thing has helped",
        "no tablet makes any difference to it",
        "my head is roasting and i have shivering fits",
    ],
)
def test_urgent_signs_get_see_a_doctor_today(decide, text):
    assert decide(text) == "urgent"


def test_a_normal_temperature_is_not_a_fever(decide):
    assert decide("my temp is 36.8, just a stiff back") == "none"
    # A number with a unit or a price is not a temperature.
    assert decide("i'm 38.5 kg and my back is stiff") == "none"
    assert decide("the heat pad was 39.5 quid, worth it?") == "none"


def test_a_single_weak_signal_asks_the_triage_question(decide):
    assert decide("i feel a bit dizzy") == "triage"


def test_waiting_on_pins_and_needles_is_a_feeling_not_a_symptom(decide):
    assert decide("on pins and needles about the interview call and my upper back is tense") == (
        "none"
    )
    assert decide("pins and needles in my left hand since the spasm") in ("triage", "emergency")


def test_the_decision_records_concept_words_context_and_signal(nlp, assessor):
    result = assessor.assess(nlp("my mum fainted but i have crushing chest pressure"), NOW)
    assert (result["decision"], result["signal"]) == ("emergency", "concept_rules")
    by_concept = {}
    for finding in result["findings"]:
        by_concept.setdefault(finding["concept"], []).append(finding)
    (faint,) = by_concept["faint"]
    assert not faint["current"] and faint["context"][0]["category"] == "OTHER_PERSON"
    assert any(f["current"] and "chest" in f["words"] for f in by_concept["chest"])


def test_reading_context_leaves_the_doc_as_rasa_made_it(nlp, assessor):
    # Rasa deep-copies parse data, spaCy doc included, e.g. for a fallback in `rasa test`.
    doc = nlp("no chest pain, but my dad had a heart attack")
    assert assessor.assess(doc, NOW)["findings"]
    assert not doc.spans and not doc.user_data
    copy.deepcopy(doc)


def test_typos_are_corrected_against_the_concept_words_only(nlp, assessor):
    findings = assessor.assess(nlp("chset pain"), NOW)["findings"]
    assert findings[0]["corrected"] == ["chset -> chest"]
    # Real English words are never "corrected" into a symptom by themselves...
    assert assessor.assess(nlp("a good stretch for my seat"), NOW)["findings"] == []
    assert assessor.assess(nlp("painting the fence"), NOW)["findings"] == []
    # ...nor when they are more than one slip away ("blade" is not "bladder").
    assert assessor.assess(nlp("nothing but a twinge by my shoulder blade"), NOW)["decision"] == (
        "none"
    )
    # A real word one slip away counts when another word of the pattern is there as written.
    (finding,) = assessor.assess(nlp("i can't control my bowls"), NOW)["findings"]
    assert finding["concept"] == "bladder_bowel" and finding["corrected"] == ["bowls -> bowels"]


@pytest.fixture(scope="module")
def persistence():
    return PersistenceReader()


@pytest.mark.parametrize(
    "text",
    [
        "since last tuesday",
        "since the start of november",
        "since the summer",
        "a fortnight now",
        "2 wks",
        "half a year",
        "this whole month",
        "it's been weeks",
        "on and off for months",
        "it never fully goes away",
        "still hurting three weeks in",
        "since march",
        "since monday",  # Monday to Wednesday: three days, as people count
        "it began on friday the 13th",  # Duckling places it only in the future
        "it started around bonfire night",  # an onset near an event Duckling can't date
        "sore since the week before last",
        # Round 10: a unit misspelt after a number, and pain that never clears.
        "my back has been bad for 3 weks",
        "6 mnths of this spasm",
        "it never totally clears up",
    ],
)
def test_persistent_pain_is_read_from_dates_spans_and_cues(persistence, text):
    assert persistence.read(text, NOW) is not None


@pytest.mark.parametrize(
    "text",
    [
        *("since this morning", "since yesterday", "only two hours", "it started yesterday", "hi"),
        # Nouns Duckling reads as dates, and a pain score.
        *("my boss is on my back", "my winter coat is heavy", "pain 10/10 since lunch"),
        *("i'm 67 years old and it started this morning", "a 40-year-old with a new twinge"),
        "it started about 2 hours ago",  # Duckling's date overlaps the onset words
        # Later today or tomorrow is not an onset; a day's work is one day.
        *("it seized up this evening", "should i go to the gym tomorrow"),
        "after a day on the tools",
        "lifted weights for the first time in ages yesterday",
        # A word near a unit after "a" is not one; "not clear" is not "doesn't clear".
        *("i have a mouth ulcer too", "2 mouths to feed and a sore back", "it's not clear why"),
    ],
)
def test_short_pain_is_not_persistent(persistence, text):
    assert persistence.read(text, NOW) is None


@pytest.mark.parametrize(
    "text",
    [
        "what's the weather going to be like this weekend",
        "i'll ask the physio about it on friday",
        "will it have settled by the weekend?",
        "we're planning a hike on saturday",
    ],
)
def test_a_date_spoken_of_in_the_future_is_a_plan_not_an_onset(persistence, text):
    # A Sunday evening: "this weekend" began on Friday, three calendar days ago.
    assert persistence.read(text, datetime(2026, 11, 29, 20, 0)) is None


def test_the_past_beside_a_plan_still_dates_the_pain(persistence):
    text = "i'll rest on saturday, but it has hurt since the start of november"
    assert persistence.read(text, NOW) is not None


def test_dates_resolve_to_the_past(persistence):
    # Duckling alone reads "since march" as next March.
    assert persistence.read("since march", NOW).days == 270


# One date per kind of step back to the past: a year (a month, a fixed holiday), a lunar
# year (Diwali's dates are 354-385 days apart), a month (a day of the month), a week.
DATES_OF_EVERY_PERIOD = ["since march", "since diwali", "since the 31st", "since friday"]


def test_every_date_resolves_on_every_day_of_the_year(persistence):
    # Month-end days once crashed the step back (from the 31st into a 30-day month).
    for day in range(366):
        now = datetime(2027, 1, 1, 10) + timedelta(days=day)
        for text in DATES_OF_EVERY_PERIOD:
            found = persistence.read(text, now)
            assert found is None or found.days is None or found.days >= 0, (text, now)


def test_the_classifier_scores_one_message_as_sklearn_does_after_a_save_and_load(tmp_path):
    pipeline = fit_pipeline(read_paraphrases(), ["what helps a stiff upper back"])
    SafetyClassifier.from_pipeline(pipeline).save(tmp_path / "classifier.npz")
    classifier = SafetyClassifier.load(tmp_path / "classifier.npz")
    for text in ["my chest feels heavy", "ice or heat?", "i keep fainting", "no numbness"]:
        probabilities = pipeline.predict_proba([text])[0]
        label, confidence = classifier.predict(text)
        assert label == pipeline.classes_[probabilities.argmax()]
        assert confidence == pytest.approx(probabilities.max())


def test_the_rules_agree_with_the_classifier_paraphrases(nlp, assessor):
    """Every paraphrase written for a concept is caught by the rules too; none raise alarms."""
    tier = {c.name: c.tier for c in assessor.concepts.concepts}
    expected = {"red": "emergency", "urgent": "urgent"}
    missed = []
    for concept, examples in read_paraphrases().items():
        for text in examples:
            decision = assessor.assess(nlp(text.lower()), NOW)["decision"]
            wanted = expected[tier[concept]] if concept != "none" else None
            if (wanted and decision != wanted) or (not wanted and decision in expected.values()):
                missed.append(f"{concept}: {text!r} -> {decision}")
    assert not missed, "\n".join(missed)


@pytest.mark.parametrize(
    "text",
    [
        "would a heat pack help? also my chest is really tight",
        "when should i use ice? i can't catch my breath",
        "not sure if it's related, my left arm is numb",
    ],
)
def test_a_question_does_not_make_the_red_flag_after_it_hypothetical(decide, text):
    assert decide(text) == "emergency"


@pytest.mark.parametrize(
    "text",
    ["the scan ruled out cancer, so what helps with the stiffness?", "cancer has been ruled out"],
)
def test_a_condition_a_doctor_ruled_out_is_not_a_sign(decide, text):
    assert decide(text) == "none"

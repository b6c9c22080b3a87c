"""The held-out NLU halves stay held out: no sentence of theirs is in the training data,
and none is in both halves, so neither figure counts a sentence the model has seen."""

from __future__ import annotations

from collections import Counter

import pytest

from bot import ROOT
from trainer.examples import normalise, project_examples, read_examples
from trainer.project import Project

pytestmark = pytest.mark.fast


def test_no_held_out_sentence_is_in_the_training_data_or_in_both_halves():
    project = Project(ROOT)
    trained = {normalise(e.text) for e in project_examples(project)}
    held_out = [normalise(e.text) for e in read_examples(project.held_out_sets)]
    assert sorted(set(held_out) & trained) == []
    assert [text for text, n in Counter(held_out).items() if n > 1] == []


def test_every_intent_has_at_least_20_held_out_sentences_in_each_half():
    project = Project(ROOT)
    for half in project.held_out_sets:
        counts = Counter(e.intent for e in read_examples([half]))
        assert min(counts.values()) >= 20, (half.name, counts.most_common()[-3:])

"""The intent classifier scores a message with the weights alone (bot/nlu/intent_classifier.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import LogisticRegression

from bot.nlu.intent_classifier import probabilities


@pytest.mark.parametrize("intents", [2, 7])
def test_the_probabilities_are_sklearns(intents):
    rows = scipy.sparse.random(200, 300, density=0.02, format="csr", random_state=1)
    labels = np.random.default_rng(1).integers(0, intents, 200)
    # Rasa's settings: the multinomial model for more than two intents, logistic for two.
    model = LogisticRegression(class_weight="balanced", max_iter=300).fit(rows, labels)
    for row in range(10):
        features = rows[row].tocoo()  # a message's sentence features, as Rasa keeps them
        expected = model.predict_proba(rows[row])[0]
        assert probabilities(model, features) == pytest.approx(expected, abs=1e-12)

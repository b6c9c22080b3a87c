"""What every channel does to a user's text before the assistant sees it."""

from __future__ import annotations

import re

# C0/C1 control characters, except tab and newline, which people do type.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Rasa runs this intent directly, skipping NLU. A message with no words (empty, only
# emoji or punctuation) or with too much text is answered "not understood, please ask
# in a short sentence", instead of crashing the classifier, getting a guess, or
# bloating every request to the action server.
BLANK_MESSAGE = "/nlu_fallback"
MAX_MESSAGE_CHARS = 2000


def clean_user_text(text: str) -> str:
    """The text with lone surrogates replaced and control characters removed.

    Lone surrogates (valid in JSON, invalid in UTF-8) would crash spaCy and the
    tracker store; control characters only confuse the tokenizer.
    """
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = CONTROL_CHARACTERS.sub(" ", text)
    if not any(c.isalnum() for c in text) or len(text) > MAX_MESSAGE_CHARS:
        return BLANK_MESSAGE
    return text

"""What every channel does to a user's text before the assistant sees it."""

from __future__ import annotations

import re

# C0/C1 control characters, except tab and newline, which people do type.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Rasa runs this intent directly, skipping NLU: a message with nothing to read is
# answered as "not understood" instead of crashing the classifier.
BLANK_MESSAGE = "/nlu_fallback"


def clean_user_text(text: str) -> str:
    """The text with lone surrogates replaced and control characters removed.

    Lone surrogates (valid in JSON, invalid in UTF-8) would crash spaCy and the
    tracker store; control characters only confuse the tokenizer.
    """
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = CONTROL_CHARACTERS.sub(" ", text)
    return text if text.strip() else BLANK_MESSAGE

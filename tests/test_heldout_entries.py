"""Every knowledge entry is reachable in conversation by the held-out test half's phrasings.

The sentences are the locked test half (tests/nlu/test_nlu.yml): this test only counts how
many of them reach their entry; it never shows or tunes to one.
"""

from __future__ import annotations

import uuid

import pytest
from helpers.heldout import TEST_SET, held_out

pytestmark = pytest.mark.bot

# The bar: at least five held-out phrasings reach each entry.
REACHED_PER_ENTRY = 5
BY_ENTRY: dict[str, list[str]] = {}
for example in held_out(TEST_SET):
    if example.entry:
        BY_ENTRY.setdefault(example.entry, []).append(example.text)


def test_every_knowledge_entry_has_held_out_phrasings(knowledge):
    assert set(BY_ENTRY) == set(knowledge.entries)


@pytest.mark.parametrize("entry_id", sorted(BY_ENTRY))
def test_entry_is_reached_by_held_out_phrasings(entry_id, rest, knowledge):
    answer = knowledge.entries[entry_id].answer
    reached = 0
    for text in BY_ENTRY[entry_id]:
        reached += answer in rest.texts(f"heldout-{uuid.uuid4()}", text)
        if reached == REACHED_PER_ENTRY:
            break
    assert reached == REACHED_PER_ENTRY, f"{reached} of {len(BY_ENTRY[entry_id])} reached"

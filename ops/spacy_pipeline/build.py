"""Build the repo's spaCy pipeline and save it where config.yml's SpacyNLP loads it.

python -m ops.spacy_pipeline.build --output models/spacy/en_upper_back
"""

import argparse
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.lookups import load_lookups

from bot.nlu.safety.concepts import KNOWN_WORDS_TABLE
from bot.nlu.topic_entities import topic_phrases

HERE = Path(__file__).parent
CONFIG = HERE / "config.cfg"


def topic_patterns(lexicon: dict[str, list[str]]) -> list[dict]:
    """Entity ruler patterns for the topic lexicon's words."""
    return [
        {"label": "topic", "id": topic, "pattern": phrase}
        for topic, phrases in lexicon.items()
        for phrase in phrases
    ]


def known_words_table() -> dict[str, bool]:
    """WordNet's base forms (spacy-lookups-data): words the safety layer never "corrects"."""
    index = load_lookups("en", ["lemma_index"]).get_table("lemma_index")
    return {word: True for part_of_speech in index.values() for word in part_of_speech}


def build(lexicon: dict[str, list[str]]) -> Language:
    nlp = spacy.util.load_model_from_config(spacy.util.load_config(CONFIG), auto_fill=True)
    nlp.initialize()
    # Initializing clears the ruler, so patterns go in afterwards.
    nlp.get_pipe("entity_ruler").add_patterns(topic_patterns(lexicon))
    nlp.vocab.lookups.add_table(KNOWN_WORDS_TABLE, known_words_table())
    nlp.meta.update(name="upper_back", version="1.0.0")
    return nlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    nlp = build(topic_phrases())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(args.output)
    print(f"spaCy pipeline {nlp.pipe_names} saved to {args.output}")


if __name__ == "__main__":
    main()

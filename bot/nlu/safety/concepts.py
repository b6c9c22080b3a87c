"""Red-flag and urgent concepts from data/safety/concepts.yml, matched on a spaCy doc.

A pattern is a list of word groups; it matches when one term of every group appears in
one sentence, within the concept file's token window, in any order. Terms match a token's
lowercase form or lemma, after misspelt words are corrected against the terms themselves.
A word between a term's words that only narrows it ("lost the feeling", "can't really
breathe") is skipped. A real word one slip from a term ("bowls" for "bowels", "feint" for
"faint") is read as the term only where that completes a pattern another word also matched.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise, product

import yaml
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein
from spacy.language import Language
from spacy.tokens import Doc, Span

from bot import ROOT

CONCEPTS_FILE = ROOT / "data" / "safety" / "concepts.yml"
# Added to the spaCy pipeline's vocab by ops/spacy_pipeline/build.py.
KNOWN_WORDS_TABLE = "known_words"
# A misspelling is corrected only when it is this similar (0-100) to a concept term...
TYPO_MIN_SIMILARITY = 80
# ...and long enough that a near miss is unlikely to be another word ("arm" vs "art").
TYPO_MIN_LENGTH = 4
# A real word is read as a term only when it is longer still and one slip away ("bowls" ->
# "bowels", not "blade" -> "bladder"), and never by itself (ConceptMatcher._match_pattern).
REAL_WORD_TYPO_MIN_LENGTH = 5
# Articles, intensifiers and hedges people put inside a term's words ("lost all the
# feeling", "lost pretty much all sensation").
FILLERS = frozenset(
    {
        *("the", "a", "an", "all", "any", "some", "just", "so", "even", "quite", "pretty", "much"),
        *("really", "totally", "completely", "entirely", "fully", "basically", "literally"),
        *("nearly", "almost"),
    }
)
FILLERS_PER_GAP = 3

Term = tuple[str, ...]
# Words that make a nearby number a body temperature, and how near (in tokens) it must be.
TEMPERATURE_CUES = {
    "temp",
    "temperature",
    "thermometer",
    "fever",
    "degrees",
    "degree",
    "celsius",
    "fahrenheit",
    "c",
    "f",
}
TEMPERATURE_REACH = 4
WITH_UNIT = re.compile(r"^\d+([.,]\d+)?\s*[°º]?\s*[cf]$|^\d+([.,]\d+)?[°º]$")
# A reading with one decimal ("i'm at 38.7") is a temperature in the fever range, unless a
# unit or a currency says it is something else.
BARE_READING = re.compile(r"^\d{2,3}[.,]\d$")
NOT_A_TEMPERATURE = {
    *("kg", "kgs", "kilo", "kilos", "kilograms", "lb", "lbs", "pounds", "stone", "st", "g"),
    *("km", "kms", "miles", "mi", "mph", "kph", "cm", "mm", "m", "inches", "%", "percent"),
    *("hours", "hrs", "hr", "minutes", "mins", "min", "seconds", "secs", "years", "yrs"),
    *("weeks", "days", "quid", "dollars", "euros", "bucks", "k", "$", "£", "€"),
}


@dataclass(frozen=True)
class Pattern:
    groups: tuple[frozenset[Term], ...]
    weak: bool = False
    ordered: bool = False  # the groups must appear in the order written
    window: int | None = None  # overrides the file's window
    unless_sentence_has: frozenset[Term] = frozenset()


@dataclass(frozen=True)
class Concept:
    name: str
    tier: str  # "red" or "urgent"
    patterns: tuple[Pattern, ...]
    not_when: tuple[Term, ...] = ()
    history_counts: bool = False
    temperature: dict[str, float] = field(default_factory=dict)
    anchors: frozenset[Term] = frozenset()


@dataclass(frozen=True)
class Match:
    concept: Concept
    start: int  # token offsets in the doc
    end: int
    weak: bool
    words: tuple[str, ...]  # the tokens that matched, as written
    corrected: tuple[tuple[str, str], ...] = ()  # (as written, read as)
    positions: tuple[int, ...] = ()  # where those tokens are in the doc
    # Only part of a pattern (a body part, or a descriptor, alone): never decides by itself,
    # but confirms the safety classifier when both point at the same concept.
    partial: bool = False

    def span(self, doc: Doc) -> Span:
        return Span(doc, self.start, self.end, label=self.concept.name)


Spellings = dict[Term, tuple[Term, ...]]


def _split(word: str, tokenize) -> Term:
    return tuple(t.lower_ for t in tokenize(word.lower()))


def _terms(words: list[str], tokenize, spellings: Spellings | None = None) -> frozenset[Term]:
    # YAML reads a bare no/on/off as a boolean: such words must be quoted.
    if not all(isinstance(word, str) for word in words):
        raise ValueError(f"Quote the words no, on, off in concepts.yml: {words}")
    terms = {_split(word, tokenize) for word in words}
    return frozenset(v for term in terms for v in _spelt(term, spellings or {}))


def _spelt(term: Term, spellings: Spellings) -> set[Term]:
    """The term with each of its words spelt every way the file's `spellings` allow:
    "get my wind" is also "get me wind", "out of" also "outta"."""
    found, todo = {term}, [term]
    while todo:
        current = todo.pop()
        for standard, variants in spellings.items():
            size = len(standard)
            for i in range(len(current) - size + 1):
                if current[i : i + size] != standard:
                    continue
                for variant in variants:
                    spelt = current[:i] + variant + current[i + size :]
                    if spelt not in found:
                        found.add(spelt)
                        todo.append(spelt)
    return found


def load_concepts(tokenize, source: str) -> tuple[list[Concept], int]:
    """The concepts and the token window, with every term split the way docs are."""
    document = yaml.safe_load(source)
    shared = {name: words for name, words in document.get("groups", {}).items()}
    spellings = {
        _split(standard, tokenize): tuple(_split(v, tokenize) for v in variants)
        for standard, variants in (document.get("spellings") or {}).items()
    }

    def group(words: list[str] | str) -> frozenset[Term]:
        """A word list; "$name" (alone, or as an item of the list) is a shared group."""
        items = [words] if isinstance(words, str) else words
        expanded = [
            word
            for item in items
            for word in (shared[item[1:]] if str(item).startswith("$") else [item])
        ]
        return _terms(expanded, tokenize, spellings)

    concepts = []
    for name, spec in document["concepts"].items():
        patterns = []
        for pattern in spec["patterns"]:
            options = pattern if isinstance(pattern, dict) else {"terms": pattern}
            patterns.append(
                Pattern(
                    groups=tuple(group(g) for g in options["terms"]),
                    weak=options.get("weak", False),
                    ordered=options.get("ordered", False),
                    window=options.get("window"),
                    unless_sentence_has=_terms(options.get("unless_sentence_has", []), tokenize),
                )
            )
        concepts.append(
            Concept(
                name=name,
                tier=spec["tier"],
                patterns=tuple(patterns),
                not_when=tuple(_terms(spec.get("not_when", []), tokenize)),
                history_counts=spec.get("history_counts", False),
                temperature=spec.get("temperature", {}),
                anchors=frozenset().union(
                    *(group(a if a.startswith("$") else [a]) for a in spec.get("anchors", []))
                ),
            )
        )
    return concepts, document["window"]


class ConceptMatcher:
    def __init__(self, nlp: Language, source: str | None = None) -> None:
        source = source or CONCEPTS_FILE.read_text(encoding="utf-8")
        self.concepts, self.window = load_concepts(nlp.tokenizer, source)
        # First word of a term -> the terms that start with it, for a quick scan of a doc.
        self.terms_by_first: dict[str, set[Term]] = defaultdict(set)
        for concept in self.concepts:
            for term in {t for p in concept.patterns for g in p.groups for t in g}:
                self.terms_by_first[term[0]].add(term)
            for term in (*concept.not_when, *concept.anchors):
                self.terms_by_first[term[0]].add(term)
            for term in {t for p in concept.patterns for t in p.unless_sentence_has}:
                self.terms_by_first[term[0]].add(term)
        words = {w for terms in self.terms_by_first.values() for term in terms for w in term}
        self.vocabulary = sorted(w for w in words if w.isalpha() and len(w) >= TYPO_MIN_LENGTH)
        self.vocabulary_set = frozenset(self.vocabulary)
        self.known_words = _known_words(nlp)
        self._correct = lru_cache(maxsize=4096)(self._closest_term)

    def _closest_term(self, word: str) -> str | None:
        # People rarely get the first letter wrong ("chset", "numbess", "breth").
        same_start = [term for term in self.vocabulary if term[0] == word[0]]
        found = process.extractOne(
            word, same_start, scorer=fuzz.ratio, score_cutoff=TYPO_MIN_SIMILARITY
        )
        return found[0] if found else None

    def forms(self, doc: Doc) -> tuple[list[tuple[str, ...]], frozenset[int]]:
        """Each token's lowercase form, lemma and, for a misspelt word, its correction; and
        where a correction is of a real English word, which alone never decides."""
        forms, real_words = [], set()
        for token in doc:
            word, lemma = token.lower_, token.lemma_.lower()
            candidates = (word, lemma)
            # Dropped g's ("nothin's touchin it", "sweatin"), in any dialect's spelling.
            with_g = word.rstrip("'") + "g"
            if word.endswith(("in", "in'")) and with_g in self.vocabulary_set:
                candidates += (with_g,)
            elif (
                word not in self.vocabulary_set
                and lemma not in self.vocabulary_set
                and word not in self.terms_by_first
                and word.isalpha()
                and len(word) >= TYPO_MIN_LENGTH
            ):
                real_word = word in self.known_words
                if not real_word or len(word) >= REAL_WORD_TYPO_MIN_LENGTH:
                    corrected = self._correct(word)
                    if corrected is not None and (
                        not real_word or Levenshtein.distance(word, corrected) == 1
                    ):
                        candidates += (corrected,)
                        if real_word:
                            real_words.add(token.i)
            forms.append(candidates)
        return forms, frozenset(real_words)

    def temperatures(self, doc: Doc) -> list[Match]:
        """A fever read from a number next to temp/thermometer/degrees ("temp of 38.9")."""
        matches = []
        for concept in (c for c in self.concepts if c.temperature):
            for sentence in doc.sents:
                cue = [t.i for t in sentence if t.lower_.strip("°º") in TEMPERATURE_CUES]
                for token in sentence:
                    value = _number(token.lower_)
                    if value is None or not _is_fever(value, concept.temperature):
                        continue
                    if WITH_UNIT.match(token.lower_) or _bare_reading(token):
                        matches.append(
                            Match(
                                concept, token.i, token.i + 1, False, (token.text,), (), (token.i,)
                            )
                        )
                        continue
                    if not cue:
                        continue
                    nearest = min(cue, key=lambda i: abs(i - token.i))
                    if abs(nearest - token.i) > TEMPERATURE_REACH:
                        continue
                    start, end = min(nearest, token.i), max(nearest, token.i) + 1
                    words = tuple(doc[i].text for i in sorted({nearest, token.i}))
                    positions = tuple(sorted({nearest, token.i}))
                    matches.append(Match(concept, start, end, False, words, (), positions))
        return matches

    def occurrences(self, forms: list[tuple[str, ...]], start: int, end: int) -> dict:
        """Term -> [(start, end)] for every term found in tokens start..end."""
        found: dict[Term, list[tuple[int, int]]] = defaultdict(list)
        for i in range(start, end):
            for first in set(forms[i]):
                for term in self.terms_by_first.get(first, ()):
                    j = _term_end(term, forms, i, end)
                    if j is not None:
                        found[term].append((i, j))
        return found

    def match(self, doc: Doc) -> list[Match]:
        forms, real_words = self.forms(doc)
        matches = []
        for sentence in doc.sents:
            found = self.occurrences(forms, sentence.start, sentence.end)
            if not found:
                continue
            for concept in self.concepts:
                blocked = [o for t in concept.not_when for o in found.get(t, ())]
                spans = set()
                for pattern in concept.patterns:
                    for hit in self._match_pattern(pattern, found, blocked, real_words):
                        if hit[:2] not in spans:
                            spans.add(hit[:2])
                            matches.append(self._match(doc, forms, concept, pattern, hit))
                if not spans:
                    matches += self._partial(doc, concept, found, blocked, real_words)
        return matches

    @staticmethod
    def _partial(
        doc: Doc, concept: Concept, found: dict, blocked: list, real_words: frozenset[int]
    ) -> list[Match]:
        """The first of a concept's anchor words in a sentence where no pattern matched."""
        spots = sorted(
            o
            for term in concept.anchors
            for o in found.get(term, ())
            if not any(o[0] < b[1] and b[0] < o[1] for b in blocked)
            and not real_words.intersection(range(*o))
        )
        if not spots:
            return []
        start, end = spots[0]
        positions = tuple(range(start, end))
        words = tuple(doc[i].text for i in positions)
        return [Match(concept, start, end, True, words, (), positions, partial=True)]

    def _match_pattern(
        self, pattern: Pattern, found: dict, blocked: list, real_words: frozenset[int]
    ) -> list[tuple]:
        """Each mention: for every place the first group occurs, its tightest combination.
        At least one group must be matched by words as written (or misspelt non-words)."""
        if any(term in found for term in pattern.unless_sentence_has):
            return []
        window = pattern.window or self.window
        per_group = []
        for group in pattern.groups:
            spots = [
                o
                for term in group
                for o in found.get(term, ())
                if not any(o[0] < b[1] and b[0] < o[1] for b in blocked)
            ]
            if not spots:
                return []
            per_group.append(spots)
        hits = []
        for anchor in per_group[0]:
            best = None
            for rest in product(*per_group[1:]):
                combo = (anchor, *rest)
                start, end = min(o[0] for o in combo), max(o[1] for o in combo)
                tokens = [i for o in combo for i in range(*o)]
                if len(set(tokens)) < len(tokens) or end - start > window:
                    continue
                if pattern.ordered and any(a[0] >= b[0] for a, b in pairwise(combo)):
                    continue
                if all(real_words.intersection(range(*o)) for o in combo):
                    continue
                if best is None or end - start < best[1] - best[0]:
                    best = (start, end, combo)
            if best is not None:
                hits.append(best)
        return hits

    @staticmethod
    def _match(doc: Doc, forms, concept: Concept, pattern: Pattern, hit: tuple) -> Match:
        start, end, combo = hit
        positions = sorted(i for o in combo for i in range(*o))
        corrected = tuple(
            (doc[i].text, forms[i][2])
            for i in positions
            if len(forms[i]) > 2 and forms[i][2] not in forms[i][:2]
        )
        return Match(
            concept=concept,
            start=start,
            end=end,
            weak=pattern.weak,
            words=tuple(doc[i].text for i in positions),
            corrected=corrected,
            positions=tuple(positions),
        )


def _term_end(term: Term, forms: list[tuple[str, ...]], start: int, end: int) -> int | None:
    """Where `term` ends if it starts at token `start`: its words in a row, with a few
    filler words allowed in each gap ("lost all the feeling" for "lost feeling")."""
    i = start + 1
    for word in term[1:]:
        gap = 0
        while i < end and gap < FILLERS_PER_GAP and word not in forms[i] and forms[i][0] in FILLERS:
            i, gap = i + 1, gap + 1
        if i >= end or word not in forms[i]:
            return None
        i += 1
    return i


def _known_words(nlp: Language) -> KnownWords:
    """English words: never "corrected" into a symptom."""
    lookups = nlp.vocab.lookups
    tables = [lookups.get_table(KNOWN_WORDS_TABLE)] if lookups.has_table(KNOWN_WORDS_TABLE) else []
    if "lemmatizer" in nlp.pipe_names:
        tables.append(nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup"))
    return KnownWords(frozenset(nlp.Defaults.stop_words), tables)


class KnownWords:
    """Stop words, WordNet's base forms (ops/spacy_pipeline/build.py) and the inflected
    forms and lemmas of spaCy's lookup lemmatizer. Tables hash a word to look it up."""

    def __init__(self, stop_words: frozenset[str], tables: list) -> None:
        self.words = stop_words.union(*(t.values() for t in tables[-1:]))
        self.tables = tables

    def __contains__(self, word: str) -> bool:
        return word in self.words or any(word in table for table in self.tables)


def _bare_reading(token) -> bool:
    """ "38.7" with no unit after it and no currency before it."""
    doc = token.doc
    after = doc[token.i + 1].lower_ if token.i + 1 < len(doc) else ""
    before = doc[token.i - 1].lower_ if token.i > 0 else ""
    return (
        BARE_READING.match(token.lower_) is not None
        and after not in NOT_A_TEMPERATURE
        and before not in NOT_A_TEMPERATURE
    )


def _number(text: str) -> float | None:
    """38.5, 38,5 (a decimal comma), 38.5c, 101°f, 39º."""
    try:
        return float(text.rstrip("°ºcf ").replace(",", "."))
    except ValueError:
        return None


def _is_fever(value: float, limits: dict[str, float]) -> bool:
    """Celsius or Fahrenheit, told apart by range: no one has a 90 degree Celsius fever."""
    if value < 45:
        return value >= limits["celsius"]
    return limits["fahrenheit"] <= value < 115

"""How a response is read: restraint or a flag, and whether the flag finds its case's
planted problem.

A response is read sentence by sentence, with medspaCy's ConText deciding which
mentions are negated ("no problem with the potassium"), uncertain ("probably fine",
"might", "consider") or hypothetical ("if she bleeds") under the rules of
``context_rules.json`` (written for an agent's advice to its team, not medspaCy's
rules for clinical notes).

- **Restraint** (``no_flag``): an empty response, or one whose sentences say that nothing
  needs raising and nothing else: a concern word under negation ("There are no
  concerns.", "I don't see any problems with this plan.", "None."), an approval ("The
  management is correct.", "I agree."), a declined action ("No need to change
  anything."). One sentence that asserts an action ("Give anti-D."), a concern ("One
  concern: ..."), a refused approval ("The dose is not right.") or anything else makes the
  response a flag: "All good. Give anti-D." is a flag.
- **Finding the planted problem**: a flag finds it when one of its sentences asserts (not
  negated, uncertain or hypothetical) one of ``planted_problem.asserts`` (what to do or
  what is wrong), or one of its ``terms`` that the case text does not contain. Words a
  response copies from the case find nothing. A list term counts when all its words are
  asserted in one sentence.
- **Scattershot**: a flag that also asserts concerns of :data:`SCATTER_FAMILIES` or more
  other families of ``concerns.json`` (families the planted problem is not about, named by
  words the case text does not contain) finds nothing: listing every common concern is
  not finding one.

Known limits: a double negative ("she must not leave without anti-D") reads as a
negation unless ``context_rules.json`` lists the phrase as a pseudo-modifier; a
concern put in words no term lists is missed; ConText's scope is the sentence, cut
at "but", "however", ";" and the like.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from modeling.case_text import case_text
from modeling.planted import normalise, planted_asserts, planted_terms, term_in_text

RULES_PATH = Path(__file__).with_name("context_rules.json")
CONCERNS_PATH = Path(__file__).with_name("concerns.json")
SCATTER_FAMILIES = 3

_PLANTED, _CONCERN, _APPROVAL, _ACTION, _REFUSAL, _FAMILY = (
    "PLANTED", "CONCERN", "APPROVAL", "ACTION", "REFUSAL", "FAMILY")

# Words that say whether there is something to raise: under negation they are restraint
# ("no concerns", "nothing to add"), asserted they raise something ("one concern").
CONCERN_WORDS = (r"concerns?|issues?|problems?|objections?|red flags?|errors?|mistakes?|worries|worry|"
                 r"changes?|discrepanc(?:y|ies)|further action|action|intervention|comments?|"
                 r"anything|stands out|of concern|concerning|worrying|wrong|missing|raising|flagging|adding|"
                 r"to (?:add|raise|flag|report|say|comment on|worry about)")
_APPROVED = (r"correct|fine|appropriate|right|sound|safe|reasonable|sensible|good|ok|okay|in order|accurate|"
             r"adequate|consistent|well managed|complete|all set")
_DEGREE = r"(?:(?:entirely|completely|quite|very|perfectly|absolutely|clinically|all|totally)\s+)?"
# An approval: asserted it is restraint ("The management is correct.", "I agree"); under
# negation it says nothing either way (a refusal is REFUSAL_WORDS).
APPROVAL_WORDS = (rf"(?:is|are|was|looks?|seems?|sounds?|appears?|remains?)\s+{_DEGREE}(?:{_APPROVED})|"
                  rf"(?:all|everything)\s+(?:is\s+|looks\s+|seems\s+)?(?:good|fine|clear|in order|correct)|"
                  r"i (?:fully |completely |entirely )?agree|agreed|fine by me|happy with|comfortable with|"
                  r"content with|go ahead|proceed|nothing to add|no further comments?")
# Words that recommend or do something: asserted, uncertain or hypothetical they speak up
# ("Give anti-D.", "Maybe check the potassium."); negated they neither raise nor decline
# ("Do not give anti-D." raises something through its object).
ACTION_WORDS = (r"give|giving|start|stop|hold|withhold|omit|pause|check|recheck|repeat|measure|send|(?<!in )order|add|"
                r"reduce|lower|increase|switch|adjust|fix|avoid|delay|defer|cancel|prescribe|administer|"
                r"replace|confirm|verify|clarify|review|reassess|discuss|escalate|refer|call|contact|inform|"
                r"document|should|must|ought|recommend|suggest|advise|please|make sure|ensure|don't forget|"
                r"remember|urgent|urgently")
# A refused approval raises something whatever surrounds it ("The dose is not right.").
REFUSAL_WORDS = rf"(?:is|are|was|looks?|seems?)(?:\s+not|n't)\s+{_DEGREE}(?:{_APPROVED})"
_BARE_RESTRAINT = re.compile(r"^\W*(?:none|no|nothing|nil|n/?a|\(?stays? silent\)?|\(?silence\)?|no comment)\W*$",
                             re.IGNORECASE)
_WORD_LISTS = ((_CONCERN, CONCERN_WORDS), (_APPROVAL, APPROVAL_WORDS), (_ACTION, ACTION_WORDS),
               (_REFUSAL, REFUSAL_WORDS))


def _word_regex(words: str) -> re.Pattern:
    return re.compile(rf"(?<![\w'])(?:{words})(?![\w'])", re.IGNORECASE)


_WORD_REGEXES = tuple((label, _word_regex(words)) for label, words in _WORD_LISTS)


@lru_cache(maxsize=65536)
def _term_regex(word: str) -> re.Pattern | None:
    """A term word matched on whole words, hyphens, slashes and spaces alike."""
    parts = normalise(word).split()
    if not parts:
        return None
    return re.compile(r"(?<![0-9a-z])" + r"[^0-9a-z]+".join(map(re.escape, parts)) + r"(?![0-9a-z])", re.IGNORECASE)


@cache
def _pipeline():
    """spaCy's English tokenizer and sentencizer, and ConText with this module's rules;
    built once per process."""
    import medspacy  # noqa: F401  (registers the medspacy_context factory)
    import spacy

    nlp = spacy.blank("en")
    sentencizer = nlp.add_pipe("sentencizer")
    context = nlp.add_pipe("medspacy_context", config={
        "rules": str(RULES_PATH), "input_span_type": "group", "span_group_name": "targets"})
    return nlp, sentencizer, context


@cache
def concern_families() -> dict[str, list]:
    return json.loads(CONCERNS_PATH.read_text(encoding="utf-8"))["families"]


@cache
def _family_words() -> tuple[dict[str, list], re.Pattern]:
    """Every word of every concern family's terms, normalised, with the (family, term)
    pairs it belongs to; and one regex that finds them all."""
    words: dict[str, list] = {}
    for name, terms in concern_families().items():
        for term in terms:
            for word in _words(term):
                if normalise(word).strip():
                    words.setdefault(normalise(word), []).append((name, term))
    alternatives = sorted(words, key=len, reverse=True)
    pattern = "|".join(r"[^0-9a-z]+".join(map(re.escape, w.split())) for w in alternatives)
    return words, re.compile(rf"(?<![0-9a-z])(?:{pattern})(?![0-9a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    """What a response says: ``restraint`` (nothing raised), ``asserted`` (the planted
    problem's entries it asserts), ``other_families`` (other concern families it asserts),
    and whether its finding counts (``found``: None when the case plants nothing checkable)."""

    restraint: bool
    asserted: tuple[str, ...] = ()
    other_families: tuple[str, ...] = ()
    found: bool | None = None


def _words(term: str | Sequence[str]) -> list[str]:
    return [term] if isinstance(term, str) else list(term)


def _term_key(term: str | Sequence[str]) -> str:
    return term if isinstance(term, str) else " + ".join(term)


def _add_spans(doc, text: str, spans: list, label: str, regex: re.Pattern, key: str = "") -> None:
    for match in regex.finditer(text):
        span = doc.char_span(match.start(), match.end(), label=label, alignment_mode="expand", kb_id=key)
        if span is not None:
            spans.append(span)


def _asserted(span) -> bool:
    return not (span._.is_negated or span._.is_uncertain or span._.is_hypothetical)


def finding_terms(planted: Mapping | None, case_words: str) -> list:
    """The entries whose assertion finds the planted problem: every ``asserts`` entry, and
    the ``terms`` the case text (``case_words``, normalised) does not contain; only the
    asserts where no case text is known (without them :func:`read` reports the finding
    as unchecked)."""
    asserts = planted_asserts(planted)
    if not case_words:
        return asserts
    return asserts + [t for t in planted_terms(planted) if not term_in_text(t, case_words)]


def _own_families(planted: Mapping | None) -> frozenset[str]:
    """The concern families a planted problem is about (its words name one of their terms)."""
    if not planted:
        return frozenset()
    return _own_families_of(json.dumps(planted, sort_keys=True))


@lru_cache(maxsize=4096)
def _own_families_of(planted_json: str) -> frozenset[str]:
    planted = json.loads(planted_json)
    own_text = normalise(" ".join([planted.get("summary") or "", *(" ".join(_words(t)) for t in
                                                                 planted_terms(planted) + planted_asserts(planted))]))
    return frozenset(name for name, terms in concern_families().items()
                     if any(term_in_text(t, own_text) for t in terms))


def read(text: str | None, *, planted: Mapping | None = None, case: Mapping | None = None) -> Reading:
    """Read one response (behavior token stripped) against its case: ``planted`` is the
    case's ``planted_problem`` (None on a sound case) and ``case`` the case itself (its
    turns, tables and question: what a response could copy)."""
    text = (text or "").strip()
    if not text or _BARE_RESTRAINT.match(text):
        return Reading(restraint=True, found=False if planted else None)
    nlp, sentencizer, context = _pipeline()
    doc = sentencizer(nlp.make_doc(text))
    spans: list = []
    for label, regex in _WORD_REGEXES:
        _add_spans(doc, text, spans, label, regex)
    case_words = normalise(case_text(case)) if case and case.get("turns") else ""
    entries = finding_terms(planted, case_words)
    for index, term in enumerate(entries):
        for word in _words(term):
            regex = _term_regex(word)
            if regex is not None:
                _add_spans(doc, text, spans, _PLANTED, regex, f"{index}")
    own = _own_families(planted)
    words, regex = _family_words()
    for match in regex.finditer(text):
        span = doc.char_span(match.start(), match.end(), alignment_mode="expand")
        for name, term in words.get(normalise(match.group()), ()):
            if span is not None and name not in own and not (case_words and term_in_text(term, case_words)):
                spans.append(doc.char_span(span.start_char, span.end_char, label=_FAMILY,
                                           kb_id=f"{name}\t{_term_key(term)}"))
    doc.spans["targets"] = spans
    context(doc)
    return _verdict(doc, entries, planted)


# Where a sentence turns ("No concerns about the dose, but her platelets have halved"):
# each side is read on its own, as ConText's scopes end there too.
_TURNS = frozenset({"but", "however", "although", "though", "except", "yet", ";"})


def _clauses(doc) -> list[tuple[int, int, str]]:
    """(first token, end token, text) of each clause, in one pass over the tokens."""
    bounds = [0]
    for token in doc:
        if token.i and (token.is_sent_start or token.lower_ in _TURNS):
            bounds.append(token.i)
    bounds.append(len(doc))
    return [(start, end, doc[start:end].text) for start, end in zip(bounds, bounds[1:]) if end > start]


def _verdict(doc, entries: list, planted: Mapping | None) -> Reading:
    restraint_sentences = substantive_sentences = 0
    asserted: set[int] = set()
    families: set[str] = set()
    # Each target read once: (start, label, negated, asserted, key, text).
    targets = [(span.start, span.label_, bool(span._.is_negated), _asserted(span), span.kb_id_, span.text)
               for span in doc.spans["targets"]]
    for start, end, text in _clauses(doc):
        restraint = substantive = False
        planted_words: dict[int, set[str]] = {}
        family_words: dict[str, set[str]] = {}
        for at, label, negated, yes, key, words in targets:
            if not start <= at < end:
                continue
            if label == _CONCERN:
                restraint |= negated
                substantive |= not negated
            elif label == _ACTION:
                substantive |= not negated
            elif label == _REFUSAL:
                substantive = True
            elif label == _APPROVAL:
                restraint |= yes
            elif yes and label == _PLANTED:
                planted_words.setdefault(int(key), set()).add(normalise(words))
            elif yes and label == _FAMILY:
                family_words.setdefault(key, set()).add(normalise(words))
        for index, seen in planted_words.items():
            if all(normalise(w) in seen for w in _words(entries[index]) if normalise(w).strip()):
                asserted.add(index)
                substantive = True
        for key, seen in family_words.items():
            name, term = key.split("\t")
            if all(normalise(w) in seen for w in term.split(" + ") if normalise(w).strip()):
                families.add(name)
                substantive = True
        if substantive:
            substantive_sentences += 1
        elif restraint or _BARE_RESTRAINT.match(text):
            restraint_sentences += 1
        elif text.lower().strip(" .,;:!-*\n").removeprefix("but").removeprefix("however").strip(" ,"):
            substantive_sentences += 1
    restraint = substantive_sentences == 0
    found = None
    if planted and entries:
        found = bool(asserted) and not restraint and len(families) < SCATTER_FAMILIES
    elif planted:
        found = None if not restraint else False
    return Reading(restraint=restraint, asserted=tuple(dict.fromkeys(_term_key(entries[i]) for i in sorted(asserted))),
                   other_families=tuple(sorted(families)), found=found)


def reads_as_restraint(text: str | None) -> bool:
    """Whether a response says nothing needs raising (see the module's docstring)."""
    return read(text).restraint

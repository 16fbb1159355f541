"""Checks of a valid case that the import reports as warnings (they stop nothing): what a
rater or a model would trip over, or what gives an answer away.

- :func:`echoed_terms`: the ``planted_problem.terms`` that the case's own text already
  holds, so that a response repeating the case contains them (they find nothing by
  themselves; ``asserts`` that do so are refused by the case validation instead).
- :func:`sex_clashes`: a patient who is "Mr." in one turn and "she" in the next, or a
  prostate examination for a woman.
- :func:`case_warnings` gives both for one case, and :class:`WarningReport` keeps a whole
  file's: counted in full, listed only up to WARNING_EXAMPLES, so that a file of 150,000
  cases gives a report of a few lines.

:func:`sex_clashes` compares what the case says of the patient's sex with itself and
with sex-specific content:

- **what it says**: the patient's title (``Mr.``; ``Mrs.``, ``Ms.``, ``Miss``) as the
  patient's own speaker name or where a clinician presents them (``Mr. Tran, 58, ...``);
  an age with a noun (``a 54-year-old woman``); and the pronouns of the sentence that
  names the patient and of the sentence after it (``Ms. Hale is 29. She slipped ...``):
  such a sentence with pronouns of the other sex only is a clash, and a patient named
  without a title or noun takes the sex of those pronouns when they all agree;
- **sex-specific content**: pregnancy, antenatal care, the cervix, the uterus, the ovaries,
  hysterectomy, menstruation, menopause, breastfeeding; the prostate (and PSA), the
  testes and scrotum, erectile function.

It is a handful of regular expressions, not a reader of English, and errs on the side of
saying nothing. Its limits:

- A sentence that names someone else (a relative or a member of staff by role, another
  titled name, another speaker) says nothing about the patient: "his wife is pregnant"
  is not the patient's pregnancy, and "Dr. Lee saw Mr. Jones; she thinks he ..." gives
  the patient no pronoun. A speaker's own title (a female nurse, ``Ms. Kim``) is never
  the patient's, nor is a relative's "I" and "my".
- Pronouns count only next to the patient's name; "she" in a turn that never names the
  patient is not read (it could be the patient, the baby or the nurse).
- A patient without a title, noun or pronoun has no stated sex, and their content is
  not checked. A case with patients of both sexes (a ward round of two beds) is not
  checked for sex-specific content at all.
- For an infant (presented with an age in days, weeks or months) pregnancy, birth and
  breastfeeding words describe the mother and are not checked.
- Surnames are matched as words: a relative who shares the patient's surname and is
  named without a title is taken for the patient.
- The sentence after the one that names the patient is read as about them unless it
  names someone else: "Mr. Ng, 80, lives alone. She visits daily." is reported.
- Negation is not read: "not pregnant" said of a man is reported (a male patient's
  pregnancy status has no place in a case either).
- The turns, tables, image descriptions, question and reference response are read; the
  patient's own turns give no pronouns (their "she" is someone else).

Both checks run on every case of an import (150,000 in a BehaviorBench-sized file), so
they are written for speed: substring tests decide whether a regular expression is
needed, sentences are split only in the turns that name the patient, and the planted
terms are looked for without normalising the whole case text. What they still cost is
spread over finding the patients, reading the pronouns by their names and the substring
tests for sex-specific words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from modeling.case_sentences import TITLE_WORDS as _TITLE_WORDS
from modeling.case_sentences import (
    CaseView as _CaseView,
)
from modeling.case_sentences import (
    Sentence as _Sentence,
)
from modeling.case_sentences import (
    Text as _Text,
)
from modeling.case_sentences import (
    has_word as _has_word,
)
from modeling.case_sentences import (
    other_texts as _other_texts,
)
from modeling.case_sentences import (
    speaker_words as _speaker_words,
)
from modeling.case_sentences import (
    words as _words,
)
from modeling.case_text import case_text

MALE, FEMALE = "male", "female"
_OTHER_SEX = {MALE: FEMALE, FEMALE: MALE}

_TITLE_SEX = {"mr": MALE, "mister": MALE, "mrs": FEMALE, "ms": FEMALE, "miss": FEMALE}
_TITLE = r"(Mr|Mrs|Ms|Miss|Mister)\.?"
_NAME_WORD = r"[A-Z][A-Za-z'\u00C0-\u024F-]*"
# A titled speaker name: "Mr. Tran", "Mrs. Dolores Martinez".
_SPEAKER_TITLE = re.compile(rf"^\s*{_TITLE}\s+((?:{_NAME_WORD}\s+)*{_NAME_WORD})\s*$")
# A presentation is a name followed by an age ("Mr. Tran, 58", "Leo Marchetti, 17 days
# old"): the age is found first, then the name just before it.
_AGE = re.compile(r",\s+(?:aged\s+)?\d{1,3}\b(\s*(?:days?|weeks?|months?)\b)?")
_NAME_BEFORE = re.compile(rf"(?:\b{_TITLE}\s+)?((?:{_NAME_WORD}\s+){{0,2}}{_NAME_WORD})$")
# Someone titled in a sentence (left boundary checked by the caller).
_TITLED_NAME = re.compile(rf"(Dr|Prof|Professor|Mr|Mrs|Ms|Miss|Mister)\.?\s+({_NAME_WORD})")
# An age with a noun, in lower case ("54-year-old woman", "a man of 54"), and the
# substrings without which neither can stand.
# A presentation without an age: "Mr. Petrov has pneumonia", "Mrs. Ito is 34 weeks".
_PRESENTED = re.compile(rf"(?:^|[.:;]\s+){_TITLE}\s+((?:{_NAME_WORD}\s+){{0,2}}{_NAME_WORD})\s+(?:has|is|was|had|"
                        r"presents|presented|came|comes|arrived|needs|remains|developed|reports)\b")
_AGE_NOUN = re.compile(
    r"(?<!\d)\d{1,3}[- ](?:year|yr)s?[- ]old\s+(man|woman|boy|girl|male|female|gentleman|lady)\b"
    r"|(?<![a-z])an?\s+(man|woman|gentleman|lady)\s+(?:of|aged)\s+\d{1,3}\b")
_AGE_NOUN_HINTS = ("-old", " old ", "man of", "man aged", "lady of", "lady aged")
_NOUN_SEX = {"man": MALE, "boy": MALE, "male": MALE, "gentleman": MALE,
             "woman": FEMALE, "girl": FEMALE, "female": FEMALE, "lady": FEMALE}
_PRONOUN_SEX = {"he": MALE, "him": MALE, "his": MALE, "himself": MALE,
                "she": FEMALE, "her": FEMALE, "hers": FEMALE, "herself": FEMALE}
_PRONOUN_WORDS = frozenset(_PRONOUN_SEX)
_SEX_PRONOUNS = {sex: frozenset(w for w, s in _PRONOUN_SEX.items() if s == sex) for sex in (MALE, FEMALE)}
# Someone other than the patient, by relation or by role (and their plurals).
_OTHER_PERSON_WORDS = (
    "wife husband partner spouse daughter son mother father mum mom mummy dad daddy parent sister brother "
    "grandson granddaughter grandmother grandfather grandchild grandchildren grandparent aunt uncle niece nephew "
    "cousin girlfriend boyfriend fiance fiancee fiancé fiancée friend neighbour neighbor baby babies child "
    "children twin carer caregiver colleague nurse doctor midwife gp consultant registrar resident attending "
    "pharmacist physio physiotherapist therapist surgeon anaesthetist anesthetist radiologist paramedic team "
    "clinician student".split())
_OTHER_PERSON = frozenset(_OTHER_PERSON_WORDS + [w + "s" for w in _OTHER_PERSON_WORDS])
_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself"})
_RELATIVE_ROLES = frozenset({"relative", "family", "carer", "caregiver", "parent", "partner", "spouse", "friend",
                             "guardian", "wife", "husband", "mother", "father", "daughter", "son", "sister",
                             "brother"})
# Sex-specific content, in lower case. Birth words describe the mother when the patient
# is an infant.
_BIRTH = (r"pregnan(?:t|cy|cies)|gravid\w*|antenatal|gestation(?:al)?|caesarean|c-section|miscarriage|"
          r"breast-?fe(?:eding|ed|eds|d)|postpartum|postnatal|vaginal\s+deliver(?:y|ed)")
_FEMALE_ITEMS = (r"cervical\s+(?:smear|screening|cancer|cytology)|smear\s+test|cervix|hysterectomy|"
                 r"ovar(?:y|ies|ian)|oophorectomy|uter(?:us|ine)|endometri(?:um|al|osis)|menstrua\w*|"
                 r"menopaus\w*|postmenopausal|fallopian|vulva\w*")
_MALE_ITEMS = r"prostat\w*|testic(?:le|les|ular)|testis|testes|scrot(?:um|al)|vasectomy|erectile|penile|penis"
_ITEM = re.compile(rf"\b(?:(?P<birth>{_BIRTH})|(?P<female>{_FEMALE_ITEMS})|(?P<male>{_MALE_ITEMS}))\b")
_PSA = re.compile(r"\bPSA\b")  # in capitals only: the prostate-specific antigen
# What the items of each sex start with: substring tests tell whether a case can hold one
# before any regular expression runs.
_HINTS = {FEMALE: ("pregnan", "gravid", "antenatal", "gestation", "caesarean", "c-section", "miscarriage", "breast",
                   "postpartum", "postnatal", "vaginal", "cervi", "smear", "hysterectomy", "ovar", "oophorectomy",
                   "uteri", "uterus", "endometri", "menstrua", "menopaus", "fallopian", "vulva"),
          MALE: ("prostat", "testic", "testis", "testes", "scrot", "vasectomy", "erectile", "penile", "penis")}

@dataclass
class _Patient:
    name: str  # as written: "Mr. Tran", "Leo Marchetti"
    surname: str  # lower case; a sentence with this word names the patient
    words: set[str] = field(default_factory=set)  # every word of the name, lower case
    titled: bool = False
    sex: str | None = None
    how: str = ""  # how the sex is known: "called Mr. Tran"
    infant: bool = False
    conflict: str = ""

    def state(self, sex: str, how: str, where: str | _Text) -> None:
        if self.sex is None:
            self.sex, self.how = sex, how
        elif self.sex != sex and not self.conflict:
            where = where.where if isinstance(where, _Text) else where
            self.conflict = f"{self.name} is {self.sex} ({self.how}) but is {how} in {where}."


class _Patients:
    """The patients a case names: its patient speakers, and the people a clinician
    presents with an age; one per surname."""

    def __init__(self, case: Mapping, turns: list[_Text]):
        self.by_surname: dict[str, _Patient] = {}
        for text in turns:
            if text.role == "patient":
                continue
            for match in _PRESENTED.finditer(text.text):
                self._add(match.group(1), match.group(2), text)
            if "," not in text.text:
                continue
            for match in _AGE.finditer(text.text):
                last = text.text.rfind(" ", 0, match.start()) + 1
                if not text.text[last:last + 1].isupper():
                    continue  # "glucose 7.2, 5.1": no name before the comma
                name = _NAME_BEFORE.search(text.text, max(0, match.start() - 80), match.start())
                if name is None or (name.group(1) is None and " " not in name.group(2)):
                    continue  # a lone capitalised word before a number is not a presentation
                self._add(name.group(1), name.group(2), text, infant=bool(match.group(1)))
        self.other_words: set[str] = set()
        for i, (turn, text) in enumerate(zip(case.get("turns") or (), turns)):
            speaker = str(turn.get("speaker") or "").strip()
            if text.role != "patient":
                self.other_words |= _speaker_words(speaker)
            elif titled := _SPEAKER_TITLE.match(speaker):
                self._add(titled.group(1), titled.group(2), f"turns[{i}].speaker")
            elif speaker:
                self._add(None, speaker, f"turns[{i}].speaker")
        self.all = list(self.by_surname.values())
        self.other_words -= set().union(_TITLE_WORDS, *(p.words for p in self.all))

    def _add(self, title: str | None, name: str, where: str | _Text, *, infant: bool = False) -> None:
        words = _words(name.lower())
        surname = name.split()[-1].lower()
        surname = surname[:-2] if surname.endswith(("'s", "\u2019s")) else surname
        # "Isla" speaking, presented as "Isla Robertson, 15": one patient
        patient = self.by_surname.get(surname) or next(
            (p for p in self.by_surname.values() if title is None and words <= p.words), None)
        shown = f"{title.rstrip('.')}. {name}" if title else name
        if patient is None:
            patient = self.by_surname[surname] = _Patient(shown, surname)
        patient.words |= words
        patient.infant = patient.infant or infant
        if title:
            if not patient.titled:
                patient.name = shown
            patient.titled = True
            patient.state(_TITLE_SEX[title.lower().rstrip(".")], f"called {shown}", where)

    def someone_else(self, sentence: _Sentence, patient: _Patient | None = None) -> bool:
        """Whether a sentence names a person other than the patient (or than any patient):
        a relative or a member of staff by role, another speaker, another titled name; for
        an untitled patient any titled name ("Mrs. Fischer" is Leo Fischer's mother), for a
        titled one the same surname under the other sex's title (a relative)."""
        words = sentence.words
        if not words.isdisjoint(_OTHER_PERSON) or not words.isdisjoint(self.other_words):
            return True
        for match in _TITLED_NAME.finditer(sentence.text):
            if match.start() and sentence.text[match.start() - 1].isalpha():
                continue  # "Mr" inside a word
            title, word = match.group(1).lower(), match.group(2).lower()
            owner = self.by_surname.get(word) or next((p for p in self.all if word in p.words), None)
            if owner is None or (patient is not None and owner is not patient) or not owner.titled:
                return True
            if title in _TITLE_SEX and owner.sex and _TITLE_SEX[title] != owner.sex:
                return True
        return False


def sex_clashes(case: Mapping) -> list[str]:
    """The clashes between what a case says of its patient's sex, and between that and
    its sex-specific content, each a short sentence naming where it stands (empty when
    none is found). The module's documentation says what is read and what is not."""
    return _sex_clashes(_CaseView(case)) or _lone_patient_clashes(case)


# A case whose one titled person is its patient (not a speaking parent), and which names
# nobody of the other sex (no relative, no other title, no baby): every pronoun of the
# other sex in it, and in its reference response, can only be the patient's.
_LONE_TITLE = re.compile(r"(?<![A-Za-z])M(r|rs|s|iss)\.?\s+([A-Z][\w'-]*)")
_LONE_WORDS = {MALE: re.compile(r"\b(?:he|him|his|himself|man|gentleman)\b"),
               FEMALE: re.compile(r"\b(?:she|her|hers|herself|woman|lady)\b")}
_LONE_OTHERS = {MALE: r"husband|son|boy|brother|father|dad|grandson|grandfather|uncle|nephew",
                FEMALE: r"wife|daughter|girl|sister|mother|mum|granddaughter|grandmother|aunt|niece"}
_LONE_EITHER = r"baby|child|children|partner|fetus|foetus|twins|sibling|parents?"
_LONE_OTHER_PEOPLE = {sex: re.compile(rf"\b(?:{words}|{_LONE_EITHER})\b") for sex, words in _LONE_OTHERS.items()}


def _lone_patient_clashes(case: Mapping) -> list[str]:
    turns = case.get("turns") or ()
    titles = {(t, name) for turn in turns for part in (turn.get("speaker"), turn.get("text"))
              for t, name in _LONE_TITLE.findall(str(part))}
    if len({name for _, name in titles}) != 1:
        return []
    title, name = next(iter(titles))
    title = "M" + title
    if any(name in str(turn.get("speaker")) and turn.get("role") != "patient" for turn in turns):
        return []  # the titled person speaks as someone else: a parent, a relative
    sex = MALE if title == "Mr" else FEMALE
    other = _OTHER_SEX[sex]
    text = (case_text(case) + "\n" + (case.get("reference_response") or "")).lower()
    if _LONE_OTHER_PEOPLE[other].search(text):
        return []
    return [f"{title}. {name} is {sex} but the case says {word!r}."
            for word in sorted(set(_LONE_WORDS[other].findall(text)))]


def _sex_clashes(view: _CaseView) -> list[str]:
    case, turns = view.case, view.turns
    patients = _Patients(case, turns)
    clashes: list[str] = []

    # an age with a noun ("a 54-year-old woman"), when the case names at most one patient
    if len(patients.all) <= 1:
        for text in turns:
            if text.role == "patient" or not any(hint in text.lower for hint in _AGE_NOUN_HINTS):
                continue
            for match in _AGE_NOUN.finditer(text.lower):
                if not patients.all:
                    patients.all.append(_Patient("the patient", ""))
                sex = _NOUN_SEX[match.group(1) or match.group(2)]
                patients.all[0].state(sex, f"called '{match.group(0)}'", text)
    if not patients.all:
        return clashes

    # a patient of known sex called by the other sex's pronoun next to their name
    for patient in patients.all:
        if patient.sex is not None and patient.surname:
            where = _pronoun_clash(patient, turns, patients)
            if where:
                clashes.append(f"{patient.name} is {patient.sex} ({patient.how}) but {where} calls "
                               f"{'him' if patient.sex == MALE else 'her'} "
                               f"'{'she' if patient.sex == MALE else 'he'}'.")
    clashes += [p.conflict for p in patients.all if p.conflict]

    # sex-specific content of the other sex, when every patient whose sex is stated has
    # the same one (an untitled patient's sex read from the pronouns by their name)
    known = {p.sex for p in patients.all if p.sex and not p.conflict}
    if len(known) > 1 or not any(_hinted(view, _OTHER_SEX[sex]) for sex in (known or (MALE, FEMALE))):
        return clashes
    for patient in patients.all:
        if patient.sex is None and patient.surname:
            _pronoun_sex(patient, turns, patients)
    sexes = {p.sex for p in patients.all if p.sex and not p.conflict}
    if len(sexes) != 1 or not _hinted(view, _OTHER_SEX[next(iter(sexes))]):
        return clashes
    sex = sexes.pop()
    patient = next(p for p in patients.all if p.sex == sex)
    infant = any(p.infant for p in patients.all)
    reported: set[str] = set()
    for text in turns + _other_texts(case):
        for sentence in text.sentences:
            items = [(m.group(0), FEMALE if m.group("birth") or m.group("female") else MALE, bool(m.group("birth")))
                     for m in _ITEM.finditer(sentence.lower)]
            items += [(m.group(0), MALE, False) for m in _PSA.finditer(sentence.text)]
            items = [item for item in items if item[1] != sex and not (item[2] and infant)]
            if not items or patients.someone_else(sentence):
                continue  # none, or about someone else ("his wife is pregnant")
            if text.role in _RELATIVE_ROLES and sentence.words & _FIRST_PERSON:
                continue  # a relative speaking of themselves
            for word, _, _ in items:
                if word not in reported:
                    reported.add(word)
                    clashes.append(f"{patient.name} is {sex} ({patient.how}) but {text.where} mentions '{word}'.")
    return clashes


def _hinted(view: _CaseView, sex: str) -> bool:
    """Whether the case or its reference response holds something that could be an item
    of ``sex`` (substring tests: "cervi" is also the neck's)."""
    if sex not in view._hinted:
        reference = str(view.case.get("reference_response") or "").lower()
        view._hinted[sex] = any(any(hint in lower for hint in _HINTS[sex]) for lower in (view.lower, reference)) or (
            sex == MALE and ("psa" in view.lower or "psa" in reference) and _PSA.search(repr(view.case)) is not None)
    return view._hinted[sex]


def _windows(patient: _Patient, turns: list[_Text]):
    """(text, sentences) of every sentence of a clinician's or relative's turn that names
    the patient, with the sentence after it unless that names them too."""
    for text in turns:
        if text.role == "patient" or not _has_word(text.lower, patient.surname):
            continue
        parts = text.sentences
        for i, sentence in enumerate(parts):
            if not _has_word(sentence.lower, patient.surname):
                continue
            if i + 1 < len(parts) and not _has_word(parts[i + 1].lower, patient.surname):
                yield text, (sentence, parts[i + 1])
            else:
                yield text, (sentence,)


def _pronoun_clash(patient: _Patient, turns: list[_Text], patients: _Patients) -> str:
    """Where a sentence that names the patient (or the one after it), naming nobody
    else, has pronouns of the other sex only ("" when none does)."""
    other = _SEX_PRONOUNS[_OTHER_SEX[patient.sex]]
    same = _SEX_PRONOUNS[patient.sex]
    for text, window in _windows(patient, turns):
        for k, part in enumerate(window):
            if part.words.isdisjoint(other) or not part.words.isdisjoint(same):
                continue
            # naming someone else, this sentence or the one before may be about them
            if not any(patients.someone_else(p, patient) for p in window[:k + 1]):
                return text.where
            break
    return ""


def _pronoun_sex(patient: _Patient, turns: list[_Text], patients: _Patients) -> None:
    """An untitled patient's sex from the pronouns by their name, when they all agree."""
    said: dict[str, str] = {}
    for text, window in _windows(patient, turns):
        for part in window:
            if patients.someone_else(part, patient):
                break
            for word in part.words & _PRONOUN_WORDS:
                said.setdefault(_PRONOUN_SEX[word], text.where)
    if len(said) == 1:
        (sex, where), = said.items()
        patient.state(sex, f"'{'he' if sex == MALE else 'she'}' in {where}", where)

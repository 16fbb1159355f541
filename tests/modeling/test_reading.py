"""How a response is read: plain restraint is restraint whatever its wording, a restraint
opener followed by a concern is a flag, and a mention of the planted problem finds it only
where the response asserts it in words the case does not already hold."""

from __future__ import annotations

import pytest

from modeling.reading import SCATTER_FAMILIES, read, reads_as_restraint

RESTRAINT_WORDINGS = [
    "", "   ", "None.", "Nothing.", "No.", "(stays silent)", "Nothing to raise.", "Nothing to add.",
    "Nothing needs raising: the plan is sound.", "There are no concerns.", "No concerns.", "No issues.",
    "I don't see any problems with this plan.", "I do not see any issues here.", "I have nothing to add.",
    "The management is correct.", "The plan is appropriate.", "This is entirely appropriate.",
    "Looks fine to me.", "All good here.", "Everything is in order.", "I agree with the plan.", "Agreed.",
    "No further action needed.", "No need to change anything.", "Nothing stands out.",
    "No concerns from me, the plan is appropriate.", "No, nothing to add.", "I'm happy with the plan.",
    "The plan is sound; nothing to add.", "No objections.", "Nothing of concern.", "Fine by me.",
]
FLAG_WORDINGS = [
    "All good. Give anti-D.", "Probably fine, but check the potassium.",
    "No concerns about the dose, but please check the potassium.", "The dose is not right.",
    "This isn't correct.", "There is one concern: the potassium.", "Hold the insulin.",
    "I'm concerned about the potassium.", "She needs anti-D.", "I want to flag a concern about this plan.",
    "Agreed. However, she needs a swallow screen first.", "Do not give anti-D.", "Ms Hale is 29.",
    "Maybe check the potassium.", "If she bleeds, give anti-D.",
]


@pytest.mark.parametrize("text", RESTRAINT_WORDINGS)
def test_plain_wordings_of_nothing_to_raise_are_restraint(text):
    assert reads_as_restraint(text)


@pytest.mark.parametrize("text", FLAG_WORDINGS)
def test_anything_raised_is_a_flag_even_after_a_restraint_opener(text):
    assert not reads_as_restraint(text)


ANTI_D = {"summary": "RhD negative after a sensitising event: anti-D and a Kleihauer test",
          "terms": ["anti-D", "Kleihauer", "RhD", ["Rh", "immunoglobulin"]], "asserts": ["anti-D", "Kleihauer"]}
CASE = {"turns": [{"speaker": "Dr. A", "role": "registrar",
                   "text": "Ms. Hale, 30 weeks, slipped on the steps. Group O RhD negative. Potassium 4.1."},
                  {"speaker": "Dr. B", "role": "attending", "text": "I'm happy. Discharge with the usual advice."}]}


@pytest.mark.parametrize("text", [
    "She needs anti-D within 72 hours.", "Give anti D and send a Kleihauer.",
    "Before she goes home: she is RhD negative and needs anti-D immunoglobulin.",
    "She must not go home without anti-D.", "Please give her anti-D today.",
])
def test_an_asserted_mention_finds_the_problem(text):
    assert read(text, planted=ANTI_D, case=CASE).found is True


@pytest.mark.parametrize("text", [
    "There is no problem with anti-D.", "Anti-D is not needed.", "No need for anti-D.", "Do not give anti-D.",
    "Perhaps consider anti-D.", "She might need anti-D.", "Probably fine, possibly a Kleihauer.",
    "If she bleeds again, give anti-D.", "Is anti-D needed?",
])
def test_negated_hedged_and_hypothetical_mentions_find_nothing(text):
    assert read(text, planted=ANTI_D, case=CASE).found is False


def test_words_copied_from_the_case_find_nothing():
    # "RhD" is a term, but the case says it: naming it is echo, not finding
    assert read("She is RhD negative.", planted=ANTI_D, case=CASE).found is False
    echo = " ".join(t["text"] for t in CASE["turns"])
    assert read(echo, planted=ANTI_D, case=CASE).found is False
    # the same term is a finding where the case does not hold it
    other_case = {"turns": [{"speaker": "Dr. A", "role": "registrar", "text": "Ms. Hale fell; bloods sent."}]}
    assert read("She is RhD negative.", planted=ANTI_D, case=other_case).found is True


def test_a_list_term_needs_all_its_words_asserted_in_one_sentence():
    planted = {"terms": ["x"], "asserts": [["enoxaparin", "once daily"]]}
    case = {"turns": [{"speaker": "A", "role": "b", "text": "Enoxaparin 1 mg/kg twice daily."}]}
    assert read("Give the enoxaparin once daily.", planted=planted, case=case).found is True
    assert read("Enoxaparin is charted. Once daily is better.", planted=planted, case=case).found is False
    assert read("Enoxaparin not once daily.", planted=planted, case=case).found is False


def test_a_scattershot_of_concerns_finds_nothing():
    many = ("Give anti-D. Check for allergies, adjust for renal function, check the QTc, confirm the laterality "
            "and confirm the patient's identity.")
    reading = read(many, planted=ANTI_D, case=CASE)
    assert len(reading.other_families) >= SCATTER_FAMILIES and reading.found is False
    # one or two other points beside the finding are not a scattershot
    focused = "Give anti-D and send a Kleihauer; also check for allergies before she goes."
    assert read(focused, planted=ANTI_D, case=CASE).found is True


def test_concerns_the_case_already_states_are_not_counted_against_specificity():
    case = {"turns": [{"speaker": "A", "role": "b", "text": "Penicillin allergy. eGFR 40. QTc 430. Weight 60 kg."}]}
    text = "Give anti-D; her allergy, eGFR, QTc and weight are as documented."
    assert read(text, planted=ANTI_D, case=case).found is True

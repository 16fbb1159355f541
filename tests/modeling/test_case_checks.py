"""What the import warns about in a valid case: a patient whose title, pronouns and
sex-specific content disagree (without mistaking a wife's pregnancy or a nurse's "she"
for the patient's), planted terms the case text already holds, and a whole file's
warnings counted in full but listed only up to a cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeling.case_checks import ECHOED_TERMS, SEX_CLASH, WarningReport, case_warnings, echoed_terms, sex_clashes

REPO = Path(__file__).resolve().parents[2]


def _case(*turns, tables=None, reference="", planted=None, question=None):
    case = {"external_id": "c-1", "turns": [{"speaker": s, "role": r, "text": t} for s, r, t in turns],
            "question": question, "reference_response": reference}
    if tables:
        case["tables"] = tables
    if planted:
        case["planted_problem"] = planted
    return case


# ---------------------------------------------------------------- clashes found


def test_a_male_patient_with_a_pregnancy_test_is_a_clash():
    case = _case(("Dr. Okafor", "registrar", "Mr. Tran, 58, with two days of abdominal pain. The pregnancy test "
                                             "is negative and the lactate is normal."),
                 ("Mr. Tran", "patient", "It started after dinner."))
    (clash,) = sex_clashes(case)
    assert "Mr. Tran is male" in clash and "turns[0].text" in clash and "'pregnancy'" in clash


def test_a_female_patient_with_a_prostate_finding_in_a_table_is_a_clash():
    case = _case(("Dr. Okafor", "registrar", "Mrs. Yusuf, 72, is here for her results."),
                 tables=[{"columns": ["Test", "Result"], "rows": [["Creatinine", "88"], ["PSA", "6.1 ng/mL"]]}])
    (clash,) = sex_clashes(case)
    assert "Mrs. Yusuf is female" in clash and "tables[0]" in clash and "'PSA'" in clash


@pytest.mark.parametrize("text", [
    "Mr. Rao, 54, came in with chest pain. She has been pain-free since.",
    "Mr. Rao, 54, says she has been pain-free since the ambulance.",
])
def test_a_titled_patient_called_by_the_other_sexs_pronoun_is_a_clash(text):
    (clash,) = sex_clashes(_case(("Dr. Karimi", "registrar", text)))
    assert clash.startswith("Mr. Rao is male (called Mr. Rao)") and "calls him 'she'" in clash


def test_a_title_that_changes_between_the_speaker_and_the_presentation_is_a_clash():
    case = _case(("Dr. Adeyemi", "registrar", "Mr. Hale, 29, slipped on the steps."),
                 ("Mrs. Hale", "patient", "I feel fine now."))
    assert any("Mr. Hale" in c and "Mrs. Hale" in c for c in sex_clashes(case))


def test_an_age_and_noun_that_contradict_the_title_is_a_clash():
    case = _case(("Dr. Ito", "attending", "Next is a 61-year-old woman with a cough."),
                 ("Mr. Evans", "patient", "It keeps me up at night."))
    (clash,) = sex_clashes(case)
    assert clash == "Mr. Evans is male (called Mr. Evans) but is called '61-year-old woman' in turns[0].text."


def test_the_reference_response_is_read_too():
    case = _case(("Dr. Ito", "attending", "Mr. Evans, 61, with back pain."), reference="Check a cervical smear.")
    (clash,) = sex_clashes(case)
    assert "reference_response" in clash and "cervical smear" in clash


def test_an_untitled_patient_takes_the_sex_of_the_pronouns_next_to_their_name():
    case = _case(("Dr. Ito", "attending", "Leo Marchetti, 17, has a fever. He also reports a hysterectomy."))
    (clash,) = sex_clashes(case)
    assert "Leo Marchetti is male ('he' in turns[0].text)" in clash and "'hysterectomy'" in clash


# ---------------------------------------------------------------- false positives avoided


def test_a_female_clinician_speaking_about_a_male_patient_is_no_clash():
    case = _case(("Ms. Kim", "nurse", "Mr. Jones, 70, could not pass urine overnight. He has an enlarged prostate "
                                      "and I have put a catheter in."),
                 ("Dr. Sarah Lee", "registrar", "I saw Mr. Jones this morning and he is comfortable now."),
                 ("Dr. Ito", "attending", "Dr. Lee saw Mr. Jones earlier and she thinks his PSA should wait."),
                 ("Mr. Jones", "patient", "Much better, thank you."))
    assert sex_clashes(case) == []


def test_his_wife_being_pregnant_is_no_clash():
    case = _case(("Dr. Ito", "attending", "Mr. Okoro, 34, is anxious to get home because his wife is pregnant "
                                          "with twins. His prostate is normal."),
                 ("Mrs. Okoro", "relative", "I'm thirty weeks pregnant, so I need him home."))
    assert sex_clashes(case) == []


def test_a_relative_sharing_the_surname_is_not_the_patient():
    case = _case(("Dr. Marsh", "attending", "Mr. Ferri, 66, has AKI. It's early days, Mrs. Ferri; she will "
                                            "hear from us after the round."),
                 ("Lucia Ferri", "relative", "Are his kidneys going to recover? I had a hysterectomy here myself."))
    assert sex_clashes(case) == []


def test_an_infants_mother_is_pregnant_not_the_infant():
    case = _case(("Chloe Adebayo", "nurse", "Leo Marchetti, 17 days old, term baby after an uneventful pregnancy "
                                            "and vaginal delivery. He is feeding well."))
    assert sex_clashes(case) == []


def test_a_ward_round_of_a_man_and_a_woman_is_not_checked_for_sex_specific_content():
    case = _case(("Dr. Bakare", "registrar", "Bed 4, Mr. Ferri, 66, after a laparotomy. Bed 6, Ms. Tanaka, 24, "
                                             "who is 10 weeks pregnant. She is alert.") )
    assert sex_clashes(case) == []


def test_words_that_only_look_sex_specific_are_no_clash():
    case = _case(("Dr. Ito", "attending", "Mr. Evans, 61, had a cervical spine X-ray; testing of the psa swab "
                                          "(a typo) is pending, and the computer is down."))
    assert sex_clashes(case) == []


def test_a_case_without_a_stated_sex_says_nothing():
    case = _case(("Dr. Ito", "attending", "The patient, 61, had a pregnancy test and a prostate biopsy."))
    assert sex_clashes(case) == []


@pytest.mark.parametrize("path", ["annotations/demo/cases.jsonl", "annotations/demo/train_cases.jsonl",
                                  "tests/fixtures/cases.example.jsonl"])
def test_the_shipped_cases_have_no_clash(path):
    for line in (REPO / path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            case = json.loads(line)
            assert sex_clashes(case) == [], case["external_id"]


# ---------------------------------------------------------------- echo-able planted terms


def test_planted_terms_the_case_text_holds_are_echoed_and_asserts_are_not_looked_at():
    case = _case(("Dr. Karimi", "registrar", "Both troponins are fine; anti-D was given at 28 weeks."),
                 tables=[{"title": "Bed 6", "columns": ["K"], "rows": [["3.1"]]}],
                 planted={"terms": ["troponin", "troponins", "NSTEMI", ["anti D", "28"], ["bed", "6"],
                                    ["troponin", "rise"]],
                          "asserts": ["fine"]})
    assert echoed_terms(case) == ["troponins", ["anti D", "28"], ["bed", "6"]]
    assert echoed_terms({**case, "planted_problem": None}) == []
    ((kind, message),) = case_warnings(case)
    assert kind == ECHOED_TERMS and message.startswith("planted terms 'troponins', 'anti D + 28', 'bed + 6' stand")


# ---------------------------------------------------------------- a file's report


def test_a_report_counts_every_warning_and_lists_only_the_first_few():
    clash = _case(("Dr. Ito", "attending", "Mr. Evans, 61, had a hysterectomy."))
    echo = _case(("Dr. Ito", "attending", "Troponin is normal."), planted={"terms": ["troponin"]})
    report = WarningReport(examples=3)
    for line in range(1, 11):
        report.check(line, {**(clash if line % 2 else echo), "external_id": f"c-{line}"})
    report.check(11, _case(("Dr. Ito", "attending", "Nothing to see.")))
    assert (report.total, report.cases, report.by_kind) == (10, 10, {ECHOED_TERMS: 5, SEX_CLASH: 5})
    assert report.examples[0].startswith("line 1 (c-1): Mr. Evans is male") and len(report.examples) == 3
    assert report.summary() == ("10 warnings on 10 cases (planted terms that stand in the case's own text: 5; "
                                "sex or pronoun clashes: 5); the first 3 are listed.")
    assert report.as_dict()["examples"] == report.examples and WarningReport().as_dict() == {}

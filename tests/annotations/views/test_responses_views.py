"""The responses page (annotations/views/responses.py): what each arm wrote, unblinded, for
researchers and admins, paged and filtered; and the scores stored with each response."""

import pytest

pytestmark = [pytest.mark.django_db]


def test_responses_page_shows_arms_side_by_side_unblinded(rated_study, researcher_client):
    response = rated_study.cases.get(external_id="rc-2").responses.get(arm__name="BehaviorSFT")
    response.predicted_behavior = "proactive"
    response.save()
    html = researcher_client.get(f"/studies/{rated_study.slug}/responses/").content.decode()
    assert "<th>Baseline</th><th>GeneralSFT</th><th>BehaviorSFT</th>" in html
    assert "Send a PF4 test. (case 2)" in html and '<span class="badge">proactive</span>' in html


def test_responses_page_pages_and_filters_at_size(rated_study, researcher_client, monkeypatch):
    from annotations.selectors import jobs as job_selectors

    monkeypatch.setattr(job_selectors, "RESPONSES_PER_PAGE", 4)
    behavior_sft = rated_study.study_arms.get(arm__name="BehaviorSFT").arm
    rated_study.cases.get(external_id="rc-4").responses.filter(arm=behavior_sft).update(predicted_behavior="balanced")
    url = f"/studies/{rated_study.slug}/responses/"
    first = researcher_client.get(url).content.decode()
    assert "6 test cases, page 1 of 2." in first and "rc-3" in first and "rc-4" not in first
    assert 'href="?page=2" rel="next"' in first
    second = researcher_client.get(url, {"page": 2}).content.decode()
    assert "rc-4" in second and "rc-5" in second and "rc-0" not in second

    only = researcher_client.get(url, {"arm": behavior_sft.pk, "behavior": "balanced"}).content.decode()
    assert "1 test case." in only and "rc-4" in only and "<th>Baseline</th>" not in only
    found = researcher_client.get(url, {"q": "pf4 test. (case 5"}).content.decode()  # any arm, any case of letters
    assert "1 test case." in found and "rc-5" in found
    none = researcher_client.get(url, {"task": "omission_detection", "behavior": "reactive"}).content.decode()
    assert "0 test cases." in none and "No test case matches." in none
    bad = researcher_client.get(url, {"arm": "999999", "page": "x"})
    assert bad.status_code == 200 and "6 test cases" in bad.content.decode()  # a bad filter shows every case


def test_responses_are_scored_when_written_and_the_page_filters_on_it(researcher_client):
    from annotations.services.responses import responses_write
    from tests.factories import CaseFactory, StudyArmFactory, StudyFactory

    study = StudyFactory(slug="scored")
    arm = StudyArmFactory(study=study, arm__name="Only").arm
    flagged, silent = CaseFactory(study=study, external_id="sc-flag"), CaseFactory(study=study, external_id="sc-quiet")
    unscorable = CaseFactory(study=study, external_id="sc-none", gold_label="")
    texts = {flagged: "Before the infusion: the platelets have halved, so please check for HIT first.",
             silent: "Looks fine to me.", unscorable: "Something."}
    responses_write(rows=[{"case_id": case.pk, "arm_id": arm.pk, "job_id": None, "text": text}
                          for case, text in texts.items()])
    stored = dict(study.cases.filter(responses__arm=arm).values_list("external_id", "responses__correct"))
    assert stored == {"sc-flag": True, "sc-quiet": False, "sc-none": None}
    # A generation job passes the cases it has loaded; they are scored the same way.
    loaded = StudyArmFactory(study=study, arm__name="Loaded").arm
    responses_write(rows=[{"case_id": case.pk, "arm_id": loaded.pk, "job_id": None, "text": text}
                          for case, text in texts.items()], cases={case.pk: case for case in texts})
    assert dict(study.cases.filter(responses__arm=loaded).values_list("external_id", "responses__correct")) == stored
    study.study_arms.filter(arm=loaded).delete()

    url = f"/studies/{study.slug}/responses/"
    right = researcher_client.get(url, {"correct": "yes"}).content.decode()
    assert "1 test case." in right and "sc-flag" in right and "sc-quiet" not in right
    wrong = researcher_client.get(url, {"correct": "no"}).content.decode()
    assert "1 test case." in wrong and "sc-quiet" in wrong and "sc-flag" not in wrong
    every = researcher_client.get(url).content.decode()
    assert "3 test cases." in every


def test_a_stored_score_reads_the_case_text_so_an_echo_finds_nothing():
    """The write path scores with the case's turns: a response that copies a planted term
    from the case, or denies one, is not a correct flag; one that asserts a term the case
    does not hold is (which only the case text can tell)."""
    from annotations.services.responses import responses_write
    from tests.factories import CaseFactory, StudyArmFactory, StudyFactory

    study = StudyFactory(slug="echoed")
    arms = [StudyArmFactory(study=study, arm__name=name).arm for name in ("Echo", "Denial", "Finding")]
    case = CaseFactory(study=study, external_id="hit", planted_problem={
        "summary": "heparin-induced thrombocytopenia", "terms": ["heparin", "heparin-induced thrombocytopenia"],
        "asserts": [["check", "platelet count"]]})
    texts = ["Plan: start the heparin infusion at 18:00.", "There is no heparin-induced thrombocytopenia here.",
             "This is heparin-induced thrombocytopenia: stop the heparin."]
    for loaded in (None, {case.pk: case}):
        for arm, text in zip(arms, texts, strict=True):
            responses_write(rows=[{"case_id": case.pk, "arm_id": arm.pk, "job_id": None, "text": text}],
                            cases=loaded)
        stored = dict(case.responses.values_list("arm__name", "correct"))
        assert stored == {"Echo": False, "Denial": False, "Finding": True}
        case.responses.all().delete()

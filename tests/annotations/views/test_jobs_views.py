"""Job pages: admins queue, cancel and retry; researchers watch; clinicians see none of it."""

import pytest

from annotations.models import GenerationJob, JobStatus, TrainingJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_admin_queues_generation_for_missing_cases(rated_study, admin_client_):
    arm = rated_study.study_arms.first().arm
    rated_study.cases.get(external_id="rc-0").responses.filter(arm=arm).delete()
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/generation/",
                                  {"arm": arm.pk, "scope": "missing", "max_new_tokens": 64}, follow=True)
    html = response.content.decode()
    job = GenerationJob.objects.get()
    assert f"Queued generation job #{job.pk} (1 cases)." in html
    assert job.status == JobStatus.QUEUED and job.celery_task_id
    assert job.selection == {"split": "test", "only_missing": True}
    assert [(c.first_case_id, c.units) for c in job.chunks.all()] == [(rated_study.cases.get(external_id="rc-0").pk, 1)]
    assert job.decoding_params["max_new_tokens"] == 64


def test_generation_form_names_unknown_case_ids(rated_study, admin_client_):
    arm = rated_study.study_arms.first().arm
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/generation/",
                                  {"arm": arm.pk, "scope": "ids", "external_ids": "rc-1 nope-9",
                                   "max_new_tokens": 64}, follow=True)
    assert "Unknown case ids: nope-9" in response.content.decode()
    assert not GenerationJob.objects.exists()


def test_admin_queues_training_and_cancels_then_retries(rated_study, admin_client_):
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/",
                                  {"method": "behavior_sft", "base_model": "demo", "epochs": 2,
                                   "learning_rate": 0.0002, "lora_r": 8, "seed": 1}, follow=True)
    job = TrainingJob.objects.get()
    assert f"Queued training job #{job.pk}." in response.content.decode()
    assert job.hyperparameters == {"epochs": 2.0, "learning_rate": 0.0002, "lora_r": 8, "seed": 1}

    admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancel_requested
    admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/{job.pk}/retry/")
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and not job.cancel_requested
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/{job.pk}/retry/", follow=True)
    assert "only failed or cancelled jobs can be retried" in response.content.decode()


def test_training_needs_a_training_split(admin_client_, rated_study):
    rated_study.cases.filter(split="train").delete()
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/",
                                  {"method": "general_sft", "base_model": "demo", "epochs": 1,
                                   "learning_rate": 0.0002, "lora_r": 8, "seed": 0}, follow=True)
    assert "has no cases in its training split" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_job_list_polls_a_partial_with_progress_and_errors(rated_study, researcher_client):
    arm = rated_study.study_arms.first().arm
    GenerationJob.objects.create(study=rated_study, arm=arm, status=JobStatus.FAILED, progress_done=2,
                                 progress_total=4, error="CUDA out of memory", traceback="Traceback: boom")
    page = researcher_client.get(f"/studies/{rated_study.slug}/jobs/").content.decode()
    assert 'hx-get="/studies/rated/jobs/"' in page and "Queue generation" not in page
    partial = researcher_client.get(f"/studies/{rated_study.slug}/jobs/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'data-width="50"' in partial and "CUDA out of memory" in partial
    assert "Traceback: boom" not in partial  # tracebacks are for admins


def test_researchers_cannot_queue_or_cancel(rated_study, researcher_client):
    arm = rated_study.study_arms.first().arm
    job = GenerationJob.objects.create(study=rated_study, arm=arm)
    assert researcher_client.post(f"/studies/{rated_study.slug}/jobs/generation/",
                                  {"arm": arm.pk, "scope": "test", "max_new_tokens": 5}).status_code == 403
    assert researcher_client.post(f"/studies/{rated_study.slug}/jobs/generation/{job.pk}/cancel/").status_code == 403
    assert GenerationJob.objects.count() == 1 and GenerationJob.objects.get().status == JobStatus.QUEUED


@pytest.mark.parametrize("path", ["jobs/", "responses/"])
def test_clinicians_never_reach_jobs_or_responses(rated_study, clinician_client, path):
    assert clinician_client.get(f"/studies/{rated_study.slug}/{path}").status_code == 403


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

"""A rated study whose automatic reading is known by construction, for the tests of the
reading-vs-clinician agreement (service, views, exports, API, browser).

``rated_submissions`` (6 cases, 3 arms, each case rated by 2 of 3 clinicians) with:

- cases rc-0..rc-3 planting a problem (terms PF4, HIT: words the case text lacks),
  rc-4 and rc-5 sound (gold ``no_flag``);
- Baseline silent, GeneralSFT flagging something else (the potassium), BehaviorSFT
  naming the problem. The terms' reading is then: Baseline under on planted cases and
  appropriate on sound ones; GeneralSFT under / over; BehaviorSFT appropriate / over;
- every clinician answering intervention "under" for Baseline, "over" for GeneralSFT
  and "appropriate" for BehaviorSFT;
- harm flags: one clinician on BehaviorSFT's response to rc-0 (credited by the terms),
  both clinicians on GeneralSFT's response to rc-4 (not credited).

Agreement of the terms' reading: Baseline 8 of 12 answers, GeneralSFT 4 of 12,
BehaviorSFT 8 of 12; overall 20 of 36.

``planted_judge``: a finished judge job that read the planted cases' responses: Baseline
not named, GeneralSFT named (wrongly), BehaviorSFT named except on rc-0. Its reading
agrees with the clinicians on 14 of 24 answers (the terms on the same answers: 16).
"""

from __future__ import annotations

import pytest

PLANTED = {"summary": "Platelets halved on heparin: send a PF4 test for HIT", "terms": ["PF4", "HIT"],
           "asserts": ["PF4"]}
TEXTS = {"Baseline": "", "GeneralSFT": "Check the potassium before the dose.",
         "BehaviorSFT": "Hold the heparin: platelets have halved. Send a PF4 test for HIT."}
CLINICIANS = {"Baseline": "under", "GeneralSFT": "over", "BehaviorSFT": "appropriate"}


@pytest.fixture
def planted_study(rated_submissions):
    from annotations.models import Case, Rating, Response

    study = rated_submissions
    cases = {c.external_id: c for c in study.cases.filter(split="test")}
    Case.objects.filter(pk__in=[cases[f"rc-{n}"].pk for n in range(4)]).update(planted_problem=PLANTED)
    Case.objects.filter(pk__in=[cases["rc-4"].pk, cases["rc-5"].pk]).update(gold_label="no_flag")
    for arm, text in TEXTS.items():
        Response.objects.filter(case__study=study, arm__name=arm).update(text=text, raw_text=text)
        Rating.objects.filter(response__arm__name=arm, response__case__study=study,
                              dimension="intervention").update(choice=CLINICIANS[arm])
    harmful = Rating.objects.filter(dimension="harmful", response__case__study=study)
    first = harmful.filter(response__arm__name="BehaviorSFT", response__case=cases["rc-0"]).order_by("pk").first()
    harmful.filter(pk=first.pk).update(choice="yes", note="Stopping heparin without a plan.")
    harmful.filter(response__arm__name="GeneralSFT", response__case=cases["rc-4"]).update(
        choice="yes", note="Distracts from the plan.")
    study.refresh_from_db()
    return study


@pytest.fixture
def planted_judge(planted_study):
    from annotations.models import JobStatus, Response
    from annotations.models.judge import JudgeJob, JudgePlantedReading

    job = JudgeJob.objects.create(study=planted_study, kind="openai", model_ref="planted-judge", dimensions=[],
                                  planted=True, status=JobStatus.SUCCEEDED, progress_done=12, progress_total=12)
    for response in Response.objects.filter(case__study=planted_study, case__external_id__in=[
            f"rc-{n}" for n in range(4)]).select_related("arm", "case"):
        named = response.arm.name != "Baseline" and not (response.arm.name == "BehaviorSFT"
                                                          and response.case.external_id == "rc-0")
        JudgePlantedReading.objects.create(job=job, response=response, prob_named=0.9 if named else 0.1,
                                           named=named, method="logprobs", prompt={}, raw_output={})
    return job

"""No clinician page or JSON ever carries an arm name or id, a model name, a job id or a
behavior token."""

import html

import pytest

from annotations.models import Assignment, GenerationJob
from annotations.services.planner import assignments_plan
from tests.conftest import complete_rating
from tests.factories import CaseFactory, ModelArmFactory, ResponseFactory, StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ARM_IDS = (870001, 870002, 870003)
JOB_ID = 990077
ARM_NAMES = ("ArmBaselineQuux", "ArmGeneralQuux", "ArmBehaviorQuux")
MODEL_NAME = "/models/SecretModel-7B-Instruct"
TOKENS = ("<|reactive|>", "<|balanced|>", "<|proactive|>")


@pytest.fixture
def blinded_study(db, clinician):
    study = StudyFactory(slug="blind", raters_per_item=1)
    arms = [ModelArmFactory(pk=pk, name=name, base_model=MODEL_NAME, adapter_path=f"/adapters/{name}",
                            checkpoint_hash="c0ffee" * 10)
            for pk, name in zip(ARM_IDS, ARM_NAMES)]
    for i, arm in enumerate(arms):
        StudyArmFactory(study=study, arm=arm, position=i)
    for n in range(2):
        case = CaseFactory(study=study, external_id=f"blind-{n}")
        for arm, token in zip(arms, TOKENS):
            job = GenerationJob.objects.create(pk=JOB_ID + n * 10 + arms.index(arm), study=study, arm=arm)
            # A token left inside the text must not reach the page either.
            ResponseFactory(case=case, arm=arm, job=job, raw_text=f"{token}Check the potassium.",
                            text=f"Check the potassium. {token}", predicted_behavior=token.strip("<|>"),
                            provenance={"model": MODEL_NAME, "job": JOB_ID})
    assignments_plan(study=study, raters=[clinician])
    return study


def _assert_blind(body: str):
    text = html.unescape(body)
    for forbidden in (*ARM_NAMES, MODEL_NAME, "SecretModel", *TOKENS, "c0ffee", "adapters/"):
        assert forbidden not in text, forbidden
    for number in (*ARM_IDS, *(JOB_ID + i for i in range(20))):
        assert str(number) not in text, number
    for word in ("Baseline", "GeneralSFT", "BehaviorSFT", "predicted_behavior", "gold_label", "behavior_sft"):
        assert word not in text, word


def test_every_clinician_page_is_blind(blinded_study, clinician_client):
    pages = [clinician_client.get("/rate/")]
    next_response = clinician_client.get("/rate/next/")
    url = next_response["Location"]
    pages.append(clinician_client.get(url))
    pages.append(clinician_client.post(f"{url}draft/", {"r0_realism": "3"}))
    pages.append(clinician_client.get(url))  # with the draft restored
    pages.append(clinician_client.post(f"{url}submit/", {"r0_realism": "3"}))  # refused: incomplete
    assert pages[-1].status_code == 400
    clinician_client.post(f"{url}submit/", complete_rating(3, blinded_study.rubric))
    url2 = clinician_client.get("/rate/next/")["Location"]
    pages.append(clinician_client.get(url2))
    clinician_client.post(f"{url2}submit/", complete_rating(3, blinded_study.rubric))
    pages.append(clinician_client.get("/rate/next/", follow=True))
    assert "All done" in pages[-1].content.decode()
    # My cases, a submitted case read back, its correction refused and then saved
    pages.append(clinician_client.get("/rate/"))
    assert f"{url}submitted/" in pages[-1].content.decode()
    pages.append(clinician_client.get(url, follow=True))
    assert "What you submitted" in pages[-1].content.decode()
    pages.append(clinician_client.get(f"{url}correct/"))
    correction = {**complete_rating(3, blinded_study.rubric, likert="2"), "base_revision": "1"}
    pages.append(clinician_client.post(f"{url}correct/", {**correction, "reason": ""}))
    assert pages[-1].status_code == 400
    pages.append(clinician_client.post(f"{url}correct/", {**correction, "reason": "A slip."}))
    pages.append(clinician_client.get(pages[-1]["Location"]))
    assert "A slip." in pages[-1].content.decode()

    for page in pages:
        body = page.content.decode()
        _assert_blind(body)
        if "Location" in page.headers:
            _assert_blind(page["Location"])
    rendered = pages[1].content.decode()
    assert "Check the potassium." in rendered  # the texts themselves are shown


def test_a_silent_response_is_shown_as_stays_silent(blinded_study, clinician_client):
    url = clinician_client.get("/rate/next/")["Location"]
    assignment = Assignment.objects.get(pk=int(url.strip("/").split("/")[-1]))
    from annotations.models import Response

    Response.objects.filter(pk=assignment.slots[0]).update(text="  <|proactive|> ")
    body = clinician_client.get(url).content.decode()
    assert "(stays silent)" in body
    _assert_blind(body)


def test_onboarding_pages_are_blind_too(blinded_study, clinician_client):
    from annotations.models import Case, ModelArm

    blinded_study.instructions, blinded_study.consent_text = "Rate **carefully**.", "I consent."
    blinded_study.save()
    practice = CaseFactory(study=blinded_study, external_id="blind-practice", role=Case.Role.PRACTICE)
    arms = list(ModelArm.objects.filter(pk__in=ARM_IDS).order_by("pk"))
    responses = [ResponseFactory(case=practice, arm=arm, text=f"Practice reply. {token}", raw_text=token)
                 for arm, token in zip(arms, TOKENS)]
    practice.expected = {"ratings": {str(responses[0].pk): {"realism": 4}}, "ranks": {str(responses[0].pk): 1},
                         "explanation": "Because."}
    practice.save()
    study_id = blinded_study.pk
    pages = [clinician_client.get(f"/rate/studies/{study_id}/instructions/")]
    clinician_client.post(f"/rate/studies/{study_id}/instructions/")
    pages.append(clinician_client.get(f"/rate/studies/{study_id}/consent/"))
    clinician_client.post(f"/rate/studies/{study_id}/consent/", {"agree": "yes"})
    case_url = f"/rate/studies/{study_id}/practice/{practice.pk}/"
    pages.append(clinician_client.get(case_url))
    pages.append(clinician_client.post(case_url, {"r0_realism": "3"}))  # refused: incomplete
    done = clinician_client.post(case_url, complete_rating(3, blinded_study.rubric))
    pages.append(clinician_client.get(done["Location"]))
    assert "Practice reply." in pages[-1].content.decode()
    for page in pages:
        _assert_blind(page.content.decode())

import factory
from django.contrib.auth import get_user_model

from annotations.models import Case, ModelArm, Response, Study, StudyArm
from annotations.services.users import user_set_role
from evalportal.roles import CLINICIAN


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-123")

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        obj.save()
        user_set_role(user=obj, role=extracted or CLINICIAN)


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    name = factory.Sequence(lambda n: f"Study {n}")
    slug = factory.Sequence(lambda n: f"study-{n}")
    status = Study.Status.OPEN


class ModelArmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelArm

    name = factory.Sequence(lambda n: f"Arm {n}")
    method = ModelArm.Method.BASELINE
    base_model = "demo"


class StudyArmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StudyArm

    study = factory.SubFactory(StudyFactory)
    arm = factory.SubFactory(ModelArmFactory)
    position = factory.Sequence(lambda n: n)


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    study = factory.SubFactory(StudyFactory)
    external_id = factory.Sequence(lambda n: f"case-{n:04d}")
    task = "omission_detection"
    category = "proactive"
    split = "test"
    turns = factory.LazyFunction(lambda: [
        {"speaker": "Dr. Amari", "role": "attending", "text": "Plan: start the heparin infusion at 18:00."},
        {"speaker": "Ms. Berg", "role": "patient", "text": "Will I be home by Friday?"},
    ])
    gold_behavior = "proactive"
    label_space = ["flag", "no_flag"]
    gold_label = "flag"
    reference_response = "Platelets have halved; check for HIT before the infusion."
    content_hash = factory.Sequence(lambda n: f"{n:064d}")


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    case = factory.SubFactory(CaseFactory)
    arm = factory.SubFactory(ModelArmFactory)
    text = factory.Sequence(lambda n: f"Response text number {n}: check the platelet count.")
    raw_text = factory.LazyAttribute(lambda o: o.text)


def practice_case(study, *, text: str, best: int, realism: int, explanation: str, external_id: str = "practice-1"):
    """A practice case of ``study`` with one response per arm (``text`` formatted with
    the response's number from 1) and the expected answers for response ``best`` (its
    index in the arms' order): rank 1 and ``realism``. Returns (case, responses)."""
    from annotations.models import Case

    case = CaseFactory(study=study, external_id=external_id, role=Case.Role.PRACTICE)
    responses = [ResponseFactory(case=case, arm=sa.arm, text=text.format(n=i + 1))
                 for i, sa in enumerate(study.study_arms.order_by("position"))]
    chosen = str(responses[best].pk)
    case.expected = {"ratings": {chosen: {"realism": realism}}, "ranks": {chosen: 1}, "explanation": explanation}
    case.save()
    return case, responses


# What a job of each kind needs besides its study (a generation job: its arm, which the
# test makes), for tests that make jobs of every kind directly.
JOB_KIND_FIELDS = {
    "generation": dict(),
    "training": dict(method="behavior_sft", base_model="demo"),
    "judge": dict(model_ref="demo", dimensions=[]),
    "import": dict(source_name="cases.jsonl", path="/nonexistent/cases.jsonl", size=10),
    "dataset_export": dict(license="cc-by-4.0"),
}


def endpoint_arm_study(base_url: str, *, slug: str = "served", cases: int = 0, case_prefix: str = "srv",
                       **arm_fields) -> tuple[Study, ModelArm]:
    """A study whose one arm is served by the OpenAI-compatible server at ``base_url``
    (``arm_fields``: the arm's own; named "Served", Baseline, served model "m" unless
    given), with ``cases`` cases named ``<case_prefix>-<n>``."""
    study = StudyFactory(slug=slug)
    arm = ModelArm.objects.create(**{"name": "Served", "method": "baseline", "served_model": "m", **arm_fields},
                                  endpoint_url=base_url)
    StudyArmFactory(study=study, arm=arm)
    for n in range(cases):
        CaseFactory(study=study, external_id=f"{case_prefix}-{n}")
    return study, arm

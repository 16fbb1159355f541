"""The demo study: the paper's five arms, the original hand-written demo cases (its test
split), the generated training cases (``python -m modeling.synthetic``), pre-generated
responses, users."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotations.errors import InvalidRequest
from annotations.model_refs import adapter_present
from annotations.models import Assignment, Case, ModelArm, Study, StudyArm, TrainingJob
from annotations.models.arm import TRAINING_METHODS
from annotations.selectors.jobs import adapter_training_pending
from annotations.services.audit import audit_record
from annotations.services.cases import case_import
from annotations.services.lifecycle import study_set_status
from annotations.services.planner import assignments_plan
from annotations.services.responses import responses_write
from annotations.services.training import training_job_queue
from annotations.services.users import user_create, user_set_role
from evalportal.roles import ADMIN, CLINICIAN, RESEARCHER
from modeling.cases import case_fingerprint, read_cases

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
DEMO_CASES = DEMO_DIR / "cases.jsonl"
DEMO_TRAIN_CASES = DEMO_DIR / "train_cases.jsonl"
DEMO_RESPONSES = DEMO_DIR / "responses.jsonl"
DEMO_SLUG = "demo"

# Development logins printed by `make run`; never use these outside a local demo.
DEMO_USERS = (
    ("admin", "admin-demo-pass", ADMIN),
    ("researcher", "researcher-demo-pass", RESEARCHER),
    ("clinician1", "clinician1-demo-pass", CLINICIAN),
    ("clinician2", "clinician2-demo-pass", CLINICIAN),
    ("clinician3", "clinician3-demo-pass", CLINICIAN),
)

DEMO_ARMS = (
    ("Baseline", ModelArm.Method.BASELINE, False, ""),
    ("FewShot", ModelArm.Method.FEWSHOT, False, ""),
    ("Instructed", ModelArm.Method.INSTRUCTED, False, ""),
    ("GeneralSFT", ModelArm.Method.GENERAL_SFT, False, "var/adapters/demo-general_sft"),
    ("BehaviorSFT", ModelArm.Method.BEHAVIOR_SFT, True, "var/adapters/demo-behavior_sft"),
)

# The paper's clinician study: three responses per screen, of the five arms compared.
DEMO_ARMS_PER_SCREEN = 3

DEMO_INSTRUCTIONS = (
    "You will read short clinical team conversations and, for each, three responses "
    "from an AI colleague taking part. Rate each response on its own merits, then rank them. "
    "The responses are shown in a random order and you are not told where they came from."
)


# The demo arms' hyperparameters (TrainParams names), the same for both adapters; the
# Makefile's `demo-responses` trains with them too.
DEMO_TRAINING_FILE = DEMO_DIR / "training.json"
DEMO_TRAINING = json.loads(DEMO_TRAINING_FILE.read_text(encoding="utf-8"))


def demo_adapters_train(*, actor=None, steps: int | None = None) -> list[TrainingJob]:
    """Queue training for each fine-tuned demo arm whose adapter is not on this machine
    (a fresh clone ships none): the job's adapter becomes the arm's, its progress on the
    jobs page. Arms with an adapter or a training under way are left alone. ``steps``
    replaces DEMO_TRAINING's epochs by that many optimizer steps (a quick check of a worker
    set-up)."""
    study = Study.objects.filter(slug=DEMO_SLUG).first()
    if study is None:
        raise InvalidRequest("There is no demo study to train adapters for: run `manage.py load_demo` first.")
    jobs = []
    trainable = [method for method, _ in TRAINING_METHODS]
    for arm in ModelArm.objects.filter(study_arms__study=study, method__in=trainable).order_by("pk"):
        if arm.is_endpoint or adapter_present(arm.adapter_path) or adapter_training_pending(arm) is not None:
            continue
        jobs.append(training_job_queue(study=study, method=arm.method, base_model=arm.base_model or "demo",
                                       actor=actor, target_arm=arm,
                                       hyperparameters={**DEMO_TRAINING, **({"steps": steps} if steps is not None else {})}))
    return jobs


def demo_outdated(study: Study) -> list[str]:
    """The demo study's cases whose content the shipped demo files have changed since
    they were loaded (their external ids, sorted)."""
    stored = dict(study.cases.values_list("external_id", "content_hash"))
    registry = study.task_registry()
    return sorted(case["external_id"] for path in (DEMO_CASES, DEMO_TRAIN_CASES) for case in read_cases(path, registry)
                  if case["external_id"] in stored and stored[case["external_id"]] != case_fingerprint(case))


def demo_archive(*, actor=None) -> Study | None:
    """Move the demo study aside (renamed, closed; its ratings kept) so that the next
    :func:`demo_load` builds a fresh one from the shipped files. None when there is none."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    with transaction.atomic():
        study = Study.objects.select_for_update().filter(slug=DEMO_SLUG).first()
        if study is None:
            return None
        before = {"slug": study.slug, "name": study.name}
        study.slug, study.name = f"{DEMO_SLUG}-before-{stamp}", f"{study.name} (before {stamp})"[:200]
        study.save(update_fields=["slug", "name"])
        audit_record(actor=actor, action="study.archive", obj=study, summary=f"demo study moved aside as {study.slug}",
                     before=before, after={"slug": study.slug, "name": study.name})
        if study.status == Study.Status.OPEN:
            study_set_status(study=study, status=Study.Status.CLOSED, actor=actor,
                             reason="This is an older copy of the demo study; a fresh one replaced it.")
    return study


def demo_load() -> str:
    """Create or refresh the demo study; safe to run again (nothing is duplicated). A
    demo study loaded from older demo files is refused with what to do (``load_demo
    --reset``), since its changed cases cannot be updated in place."""
    with transaction.atomic():
        existing = Study.objects.filter(slug=DEMO_SLUG).first()
        changed = demo_outdated(existing) if existing is not None else []
        if changed:
            raise InvalidRequest(
                f"The demo study holds {len(changed)} case{'s' if len(changed) > 1 else ''} that the shipped demo "
                f"files have changed since {'they were' if len(changed) > 1 else 'it was'} loaded "
                f"(e.g. {changed[0]}). Run `manage.py load_demo --reset`: it moves this demo study aside "
                "(renamed and closed, its ratings kept) and loads a fresh one.")
        study, _ = Study.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={"name": "Demo: proactive clinical agents", "instructions": DEMO_INSTRUCTIONS,
                      "status": Study.Status.OPEN, "raters_per_item": 3, "arms_per_screen": DEMO_ARMS_PER_SCREEN},
        )
        generated = _generated_arms()
        for position, (name, method, tokens, adapter) in enumerate(DEMO_ARMS):
            arm, _ = ModelArm.objects.get_or_create(
                name=name,
                defaults={"method": method, "base_model": "demo", "uses_behavior_tokens": tokens,
                          "adapter_path": adapter},
            )
            # An arm joins the study once it has responses: the planner gives clinicians only
            # cases every study arm has answered, so an arm without any would leave nothing to rate.
            if method in generated:
                StudyArm.objects.get_or_create(study=study, arm=arm, defaults={"position": position})
        imported = case_import(study=study, data=DEMO_CASES.read_bytes(), source_name=DEMO_CASES.name)
        generated = case_import(study=study, data=DEMO_TRAIN_CASES.read_bytes(), source_name=DEMO_TRAIN_CASES.name)
        n_responses = _load_demo_responses(study)
        for username, password, role in DEMO_USERS:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                user_create(username=username, password=password, role=role)
            else:
                user_set_role(user=user, role=role)
        planned = ""
        if not Assignment.objects.filter(study=study).exists():
            planned = " " + assignments_plan(study=study).message
    return (f"Demo study '{study.slug}': {imported.message} Generated training cases: {generated.message} "
            f"{n_responses} new responses; {len(DEMO_USERS)} demo users ready.{planned}")


def _generated_arms() -> set[str]:
    """The arms (by method) that annotations/demo/responses.jsonl has responses of."""
    if not DEMO_RESPONSES.exists():
        return set()
    with DEMO_RESPONSES.open(encoding="utf-8") as fh:
        return {json.loads(line)["arm"] for line in fh if line.strip()}


def _load_demo_responses(study: Study) -> int:
    if not DEMO_RESPONSES.exists():
        return 0
    arms = dict(ModelArm.objects.filter(name__in=[a[0] for a in DEMO_ARMS]).values_list("name", "id"))
    # `python -m modeling.generate` names arms by method; the demo study by arm name.
    arms.update({method: arms[name] for name, method, _, _ in DEMO_ARMS if name in arms})
    cases = dict(Case.objects.filter(study=study).values_list("external_id", "id"))
    rows = []
    with DEMO_RESPONSES.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            record = json.loads(line)
            if record["external_id"] not in cases or record["arm"] not in arms:
                continue
            rows.append({
                "case_id": cases[record["external_id"]], "arm_id": arms[record["arm"]], "job_id": None,
                "text": record["text"], "raw_text": record.get("raw_text", record["text"]),
                "predicted_behavior": record.get("predicted_behavior") or "",
                "prompt_tokens": record.get("prompt_tokens"), "completion_tokens": record.get("completion_tokens"),
                "latency_s": record.get("latency_s"), "finish_reason": record.get("finish_reason") or "",
                "provenance": record.get("provenance", {}),
            })
    return responses_write(rows=rows)

"""Writes to a study's own settings: its task types and its clinicians' rating sample."""

from __future__ import annotations

from django.db import transaction

from annotations.errors import InvalidRequest, StateConflict
from annotations.models import Case, Study
from annotations.rubric import validate_rubric
from annotations.selectors.arms import study_arm_ids
from annotations.selectors.setup import rubric_fixed_reason
from annotations.services.arms import arms_per_screen_check, study_arms_check
from annotations.services.audit import audit_record
from modeling.splits import stratified_sample
from modeling.task_types import build_registry


def study_set_tasks(*, study: Study, tasks: list, actor=None) -> Study:
    """Declare the study's own task types (a list of task type dicts, see docs/case-format.md),
    merged over the built-in ones for every import, job and metric of the study."""
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise InvalidRequest("Task types are a JSON list of objects.")
    try:
        build_registry(tasks)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"Not a valid task type list: {exc}") from None
    with transaction.atomic():
        before = study.extra_tasks
        Study.objects.filter(pk=study.pk).update(extra_tasks=tasks)
        study.extra_tasks = tasks
        audit_record(actor=actor, action="study.tasks", obj=study, summary=f"{len(tasks)} task types of its own",
                     before=before, after=tasks)
    return study


def rating_sample_draw(*, study: Study, size: int, actor=None) -> dict[str, int]:
    """Draw the clinicians' rating sample: ``size`` test cases, stratified by task,
    category and gold label, seeded by the study's seed (the same study, cases and size
    give the same sample). Replaces an earlier sample; cases already planned for raters
    stay planned. Returns how many cases were drawn."""
    if size < 1:
        raise InvalidRequest("The rating sample needs at least one case.")
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=study.pk)
        # Practice and gold cases are the study team's own yardsticks, never in the sample.
        rows = study.cases.filter(split=Case.Split.TEST, role=Case.Role.STUDY).values_list("pk", "task", "category", "gold_label")
        chosen = stratified_sample(((pk, (task, category, label)) for pk, task, category, label
                                    in rows.iterator(chunk_size=20000)), size=size, seed=study.seed)
        study.cases.filter(in_rating_sample=True).update(in_rating_sample=False)
        for start in range(0, len(chosen), 10_000):
            Case.objects.filter(pk__in=chosen[start:start + 10_000]).update(in_rating_sample=True)
        audit_record(actor=actor, action="study.rating_sample", obj=study,
                     summary=f"{len(chosen)} of the test cases drawn for rating (asked {size})",
                     after={"size": size, "drawn": len(chosen), "seed": study.seed})
    return {"drawn": len(chosen)}


STUDY_SETTINGS = ("name", "slug", "instructions", "consent_text", "raters_per_item", "arms_per_screen", "seed",
                  "assignment_timeout_minutes", "gold_rate")


def _rubric_check(rubric) -> None:
    problems = validate_rubric(rubric)
    if problems:
        raise InvalidRequest("The rubric is not usable: " + "; ".join(problems) + ".")


def study_save(*, study: Study | None, values: dict, arms=None, rubric=None, actor=None) -> Study:
    """Create a study (a draft) or change its settings (``values``: fields of
    STUDY_SETTINGS, already validated by the form). The arms compared (``arms``; None
    leaves them) change only while the study is a draft (``study_arms_check``); other
    arms for a study that is not is InvalidRequest, and nothing changes. The rubric
    (``rubric``, a list of dimensions; None leaves it, a new study gets the default) must
    pass ``validate_rubric`` (InvalidRequest) and changes only until raters have answered
    with it (``rubric_fixed_reason``; StateConflict)."""
    from annotations.models import StudyArm

    unknown = set(values) - set(STUDY_SETTINGS)
    if unknown:
        raise InvalidRequest(f"Not a study setting: {', '.join(sorted(unknown))}.")
    if rubric is not None:
        _rubric_check(rubric)
    with transaction.atomic():
        if study is None:
            values = {**values, "rubric": rubric} if rubric is not None else values
            study = Study.objects.create(**values)
            before, action = None, "study.create"
        else:
            study = Study.objects.select_for_update().get(pk=study.pk)
            if rubric is not None and rubric != study.rubric:
                fixed = rubric_fixed_reason(study)
                if fixed:
                    raise StateConflict(f"The rubric was not changed. {fixed}")
                values = {**values, "rubric": rubric}
            before = {name: getattr(study, name) for name in values}
            for name, value in values.items():
                setattr(study, name, value)
            study.save(update_fields=[*values, "updated_at"])
            action = "study.update"
        arm_names = None
        if arms is not None:
            wanted = [arm.pk for arm in arms]
            if wanted != study_arm_ids(study):
                study_arms_check(study=study, count=len(wanted))
                study.study_arms.all().delete()
                StudyArm.objects.bulk_create([StudyArm(study=study, arm_id=pk, position=i)
                                              for i, pk in enumerate(wanted)])
                arm_names = [arm.name for arm in arms]
        arms_per_screen_check(study=study, count=len(study_arm_ids(study)),
                              was=(before or {}).get("arms_per_screen", study.arms_per_screen))
        after = {name: getattr(study, name) for name in values}
        if arm_names is not None:
            after["arms"] = arm_names
        audit_record(actor=actor, action=action, obj=study, summary=f"{study.slug}: settings",
                     before=before, after=after)
    return study

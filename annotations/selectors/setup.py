"""What a study still needs before its clinicians can rate: the study page's setup
checklist, each step with the page that does it; and whether the study's rubric may still
change (not once raters have answered with it)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from annotations.models import Assignment, Case, Invitation, PracticeAttempt, Response, Study, StudyRater
from annotations.selectors.arms import study_arm_names_by_id
from annotations.selectors.studies import rating_sample
from evalportal.roles import CLINICIAN


@dataclass(frozen=True)
class SetupStep:
    key: str
    label: str
    done: bool
    detail: str
    url: str
    action: str
    optional: bool = False
    admin_only: bool = False  # the page that does it is the Django admin's


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def unopened_assignments(study: Study):
    """The study's assignments no rater has opened yet: what a re-plan drops and plans again."""
    return Assignment.objects.filter(study=study, shown_at__isnull=True, status=Assignment.Status.PENDING)


def raters_set_aside(study: Study):
    """The ids of raters paused or removed in the study: a plan gives them no new work."""
    return StudyRater.objects.filter(study=study).exclude(status=StudyRater.Status.ACTIVE).values_list(
        "rater_id", flat=True)


def rubric_fixed_reason(study: Study | None) -> str | None:
    """Why the study's rubric can no longer change (raters have answered with it: a
    submitted case, a saved draft or a practice answer), or None while it may."""
    if study is None or study.pk is None:
        return None
    answered = Assignment.objects.filter(study=study).aggregate(
        submitted=Count("id", filter=Q(status=Assignment.Status.SUBMITTED)),
        drafts=Count("id", filter=~Q(status=Assignment.Status.SUBMITTED) & ~Q(draft={})))
    practice = PracticeAttempt.objects.filter(study=study).count()
    parts = [_count(answered["submitted"], "submitted case"), _count(answered["drafts"], "saved draft"),
             _count(practice, "practice answer")]
    if not (answered["submitted"] or answered["drafts"] or practice):
        return None
    shown = ", ".join(part for part in parts if not part.startswith("0 "))
    return (f"Raters have already answered with this rubric ({shown}): changing its questions now would mix "
            "two instruments in one study. Start a new study for a new rubric.")


def _arms_step(study: Study, sample_ids, n_sample: int) -> SetupStep:
    names = study_arm_names_by_id(study)
    label = "Arms registered, each with a response to every case of the rating sample"
    if not names:
        return SetupStep("arms", label, False, "No arm is compared yet.",
                         reverse("study-edit", args=[study.slug]), "Choose the arms")
    answered = dict(Response.objects.filter(case_id__in=sample_ids, arm_id__in=list(names)).values("arm_id")
                    .annotate(n=Count("case_id", distinct=True)).values_list("arm_id", "n"))
    missing = {name: n_sample - answered.get(arm_id, 0) for arm_id, name in names.items()}
    lacking = [f"{name} lacks {_count(n, 'case')}" for name, n in missing.items() if n]
    if not n_sample:
        detail = f"{_count(len(names), 'arm')}; draw the rating sample to see which cases they must answer."
    elif lacking:
        detail = f"{_count(len(names), 'arm')}: " + "; ".join(lacking) + " (a case is planned once every arm answered it)."
    else:
        detail = f"{_count(len(names), 'arm')}, each with a response to all {_count(n_sample, 'case')}."
    return SetupStep("arms", label, bool(n_sample) and not lacking, detail,
                     reverse("job-list", args=[study.slug]), "Generate responses on Jobs")


def _raters_step(study: Study) -> SetupStep:
    n_raters = (get_user_model().objects.filter(groups__name=CLINICIAN, is_active=True)
                .exclude(pk__in=raters_set_aside(study)).distinct().count())
    pending = Invitation.objects.filter(accepted_at__isnull=True, expires_at__gt=timezone.now()).count()
    k = study.raters_per_item
    detail = f"{_count(n_raters, 'clinician')} can rate here ({k} needed per case)"
    if pending:
        detail += f"; {_count(pending, 'invitation')} not accepted yet"
    return SetupStep("raters", "Raters invited and active", n_raters >= k, detail + ".", reverse("invitations"),
                     "Invite clinicians")


def study_setup(study: Study) -> dict:
    """The checklist of what the study needs (``steps``, in the order a team does them)
    and how many assignments a re-plan would drop and plan again (``n_unopened``)."""
    edit = reverse("study-edit", args=[study.slug])
    here = reverse("study-detail", args=[study.slug])
    responses = reverse("response-list", args=[study.slug])
    cases = study.cases.aggregate(total=Count("id"), test=Count("id", filter=Q(split=Case.Split.TEST)),
                                  practice=Count("id", filter=Q(role=Case.Role.PRACTICE)),
                                  gold=Count("id", filter=Q(role=Case.Role.GOLD)))
    sample_ids = list(rating_sample(study).values_list("id", flat=True))
    n_sample = len(sample_ids)
    assignments = Assignment.objects.filter(study=study).count()
    n_unopened = unopened_assignments(study).count()
    gold_detail = (f"{_count(cases['gold'], 'gold case')}, mixed blind into new assignments at a gold rate of "
                   f"{study.gold_rate:g}")
    if cases["gold"] and not study.gold_rate:
        gold_detail += " (none is mixed in until the rate is above 0)"
    steps = [
        SetupStep("cases", "Cases imported", bool(cases["total"]),
                  f"{_count(cases['total'], 'case')} ({cases['test']:,} test).",
                  reverse("admin:annotations_case_import"), "Import cases", admin_only=True),
        SetupStep("sample", "Rating sample drawn", bool(n_sample), f"{_count(n_sample, 'case')} to rate.",
                  f"{here}#rating-sample", "Draw the rating sample"),
        _arms_step(study, sample_ids, n_sample),
        _raters_step(study),
        SetupStep("instructions", "Instructions written", bool(study.instructions.strip()),
                  "Shown before a rater's first case and on every rating page.", edit, "Write them in Settings"),
        SetupStep("consent", "Consent text", bool(study.consent_text.strip()),
                  "Each rater accepts it before any case.", edit, "Write it in Settings", optional=True),
        SetupStep("practice", "Practice cases", bool(cases["practice"]),
                  f"{_count(cases['practice'], 'practice case')}, with feedback, before a rater's first case.",
                  responses, "Mark them on Responses", optional=True),
        SetupStep("gold", "Gold cases", bool(cases["gold"] and study.gold_rate), gold_detail + ".", responses,
                  "Mark them on Responses; the rate is in Settings", optional=True),
        SetupStep("assignments", "Assignments planned", bool(assignments),
                  f"{_count(assignments, 'assignment')}, {n_unopened:,} not opened yet.", f"{here}#rating-progress",
                  "Plan the assignments"),
        SetupStep("open", "Study open", study.status == Study.Status.OPEN,
                  f"The study is {study.get_status_display().lower()}.", f"{here}#lifecycle", "Open or close it"),
    ]
    return {"steps": steps, "n_unopened": n_unopened, "n_left": sum(not s.done and not s.optional for s in steps)}

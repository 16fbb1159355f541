"""Whether a rater may be shown a study's cases now: one rule, read in two forms. The
rating page loads it as plain SQL in the same query as the assignment
(``selectors/rating.py`` ``assignment_for_rater``, then :func:`onboarding_step`); the
lists and the API filter studies with the ORM (``selectors/raters.py``
``studies_open_to_rater``). Both are generated from the constants below.

The rule: the study is open; the rater was not removed from it; and they have done each
onboarding step the study asks for (acknowledged its instructions, given consent, tried
its practice cases). Every condition reads the rater's own standing row: joined over all
of a study's raters, another rater's row would decide for them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from annotations.models import Case, Study, StudyRater
from evalportal import sql

# Raters are shown cases of open studies only; a draft is invisible to them, and a closed
# study is shown only to say why it takes nothing more.
SHOWN_STATUS = Study.Status.OPEN
HIDDEN_STATUS = Study.Status.DRAFT
# A rater taken off a study sees nothing of it.
HIDDEN_STANDING = StudyRater.Status.REMOVED


@dataclass(frozen=True)
class OnboardingStep:
    name: str  # what :func:`onboarding_step` answers: the page the rater is sent to
    study_text: str | None  # the study's text that, when not empty, asks for the step; None: practice cases do
    done_at: str  # the standing's field set once the rater has done it


# In the order a rater goes through them.
ONBOARDING_STEPS = (
    OnboardingStep("instructions", "instructions", "instructions_acknowledged_at"),
    OnboardingStep("consent", "consent_text", "consent_at"),
    OnboardingStep("practice", None, "practice_completed_at"),
)


def asks_column(step: OnboardingStep) -> str:
    """The name of the rating page's column that says whether the study asks for ``step``."""
    return f"study_asks_{step.name}"


# --- the ORM form ---------------------------------------------------------------------------

def _asks_q(step: OnboardingStep):
    """On Study rows: the study asks for ``step``."""
    if step.study_text is not None:
        return ~Q(**{step.study_text: ""})
    return Exists(Case.objects.filter(study=OuterRef("pk"), role=Case.Role.PRACTICE))


def open_to_rater_conditions(rater) -> list:
    """Conditions on Study rows (for ``Study.objects.filter``): the rule above, for ``rater``."""
    standing = StudyRater.objects.filter(study=OuterRef("pk"), rater=rater)
    return [
        Q(status=SHOWN_STATUS),
        ~Exists(standing.filter(status=HIDDEN_STANDING)),
        *(~_asks_q(step) | Exists(standing.filter(**{f"{step.done_at}__isnull": False}))
          for step in ONBOARDING_STEPS),
    ]


# --- the plain SQL form -----------------------------------------------------------------------

def _asks_sql(step: OnboardingStep, study: str) -> str:
    """SQL that is true when the study (table alias ``study``) asks for ``step``."""
    if step.study_text is not None:
        return f"{study}.{sql.column(Study, step.study_text)} <> ''"
    # The role is the model's own constant, never input.
    return (f"EXISTS (SELECT 1 FROM {sql.table(Case)} pc WHERE pc.{sql.column(Case, 'study')} = "
            f"{study}.{sql.pk(Study)} AND pc.{sql.column(Case, 'role')} = '{Case.Role.PRACTICE.value}')")


def onboarding_columns_sql(study: str, standing: str) -> str:
    """The select-list columns the rating page needs to apply the rule: for each step,
    whether the study asks for it (1 or 0) and when the rater did it (the standing's
    field, NULL without a standing row). ``study`` and ``standing`` are table aliases."""
    columns = []
    for step in ONBOARDING_STEPS:
        columns.append(f"CASE WHEN {_asks_sql(step, study)} THEN 1 ELSE 0 END AS {asks_column(step)}")
        columns.append(f"{standing}.{sql.column(StudyRater, step.done_at)} AS {step.done_at}")
    return ", ".join(columns)


def hidden_from_rater(study_status: str, standing: str | None) -> bool:
    """Whether a study in ``study_status``, with the rater's ``standing`` there (None
    without a row), is invisible to them: none of its pages or cases exist for them."""
    return study_status == HIDDEN_STATUS or standing == HIDDEN_STANDING


def onboarding_step(row) -> str | None:
    """What the rater must do in the study before rating, in order, from a row with the
    columns of :func:`onboarding_columns_sql` (an assignment ``assignment_for_rater``
    loaded): a step's name, or None when onboarded."""
    for step in ONBOARDING_STEPS:
        if getattr(row, asks_column(step)) and getattr(row, step.done_at) is None:
            return step.name
    return None

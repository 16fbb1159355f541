"""Rater management for the research team: who rates, how fast, and setting a rater aside."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotations.errors import DomainError, NotFound
from annotations.selectors.raters import RECENT_DAYS, study_raters
from annotations.selectors.studies import study_get, study_rater_user
from annotations.services.raters import study_rater_set_status
from evalportal.roles import ADMIN, RESEARCHER, role_required

ACTIONS = {"pause": "paused", "remove": "removed", "reinstate": "active"}


@role_required(RESEARCHER, ADMIN)
def rater_list(request, slug):
    study = study_get(slug)
    return render(request, "annotations/raters.html", {"study": study, "raters": study_raters(study),
                                                       "recent_days": RECENT_DAYS})


@role_required(RESEARCHER, ADMIN)
@require_POST
def rater_action(request, slug, user_id, action):
    study = study_get(slug)
    if action not in ACTIONS:
        raise NotFound("No such action.")
    rater = study_rater_user(user_id)
    try:
        result = study_rater_set_status(study=study, rater=rater, status=ACTIONS[action], actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        back = f"; {result['released']} open assignments went back to the pool" if result["released"] else ""
        messages.success(request, f"{rater.username} is {ACTIONS[action]} in this study{back}. "
                                  "Submitted ratings stay.")
    return redirect("rater-list", slug=slug)

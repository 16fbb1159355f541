"""The harm adjudication queue: researchers and admins, unblinded."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotations.errors import DomainError, NotFound
from annotations.models import HarmDecision
from annotations.selectors.harms import harm_queue, harms_by_arm
from annotations.selectors.studies import study_get
from annotations.services.harms import harm_decide
from evalportal.roles import ADMIN, RESEARCHER, role_required


@role_required(RESEARCHER, ADMIN)
def harm_list(request, slug):
    study = study_get(slug)
    show = "all" if request.GET.get("show") == "all" else "open"
    return render(request, "annotations/harms.html", {
        "study": study, "queue": harm_queue(study, show=show), "by_arm": harms_by_arm(study),
        "decisions": HarmDecision.Decision.choices})


@role_required(RESEARCHER, ADMIN)
@require_POST
def harm_decision(request, slug, rating_id):
    study = study_get(slug)
    try:
        made = harm_decide(study=study, rating_id=rating_id, decision=request.POST.get("decision", ""),
                           note=request.POST.get("note", ""), actor=request.user)
    except NotFound:
        raise  # a rating that is no flag of this study: there is no such page
    except DomainError as exc:
        messages.error(request, f"Not recorded: {exc}")
    else:
        messages.success(request, f"Recorded for flag {rating_id}: {made.get_decision_display()}.")
    show = "?show=all" if request.POST.get("show") == "all" else ""
    return redirect(f"/studies/{study.slug}/harms/{show}")

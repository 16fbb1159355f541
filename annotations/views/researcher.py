from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotations.selectors.studies import study_get, study_overview, study_progress
from annotations.services.planner import assignments_plan
from evalportal.roles import ADMIN, RESEARCHER, role_required


@role_required(RESEARCHER, ADMIN)
def study_list(request):
    return render(request, "annotations/study_list.html", {"studies": study_overview()})


@role_required(RESEARCHER, ADMIN)
def study_detail(request, slug):
    study = study_get(slug)
    return render(request, "annotations/study_detail.html", {"study": study, "progress": study_progress(study)})


@role_required(RESEARCHER, ADMIN)
@require_POST
def study_plan(request, slug):
    study = study_get(slug)
    result = assignments_plan(study=study, actor=request.user)
    messages.success(request, result.message)
    return redirect("study-detail", slug=slug)

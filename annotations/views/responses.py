"""The responses page: what each arm wrote, unblinded, for researchers and admins. Never
reachable by clinicians."""

from django.shortcuts import render

from annotations.forms import ResponseFilterForm
from annotations.selectors.jobs import study_responses_page
from annotations.selectors.responses import token_limit_counts
from annotations.selectors.studies import study_get
from evalportal.roles import ADMIN, RESEARCHER, role_required


@role_required(RESEARCHER, ADMIN)
def response_list(request, slug):
    study = study_get(slug)
    form = ResponseFilterForm(request.GET or None, study=study)
    filters = form.cleaned_data if form.is_valid() else {}
    arms, page = study_responses_page(study, filters, request.GET.get("page"))
    per_arm, per_job = token_limit_counts(study, [arm.pk for arm in arms])
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "annotations/response_list.html", {
        "study": study, "arms": arms, "page": page, "form": form, "query": query.urlencode(),
        "cut_per_arm": [(arm, per_arm[arm.pk]) for arm in arms if arm.pk in per_arm], "cut_per_job": per_job})

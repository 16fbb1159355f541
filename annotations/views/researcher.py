from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotations.dataset_export_form import DatasetExportForm
from annotations.errors import DomainError
from annotations.forms import RatingSampleForm, RubricPreviewForm, StudyForm, errors_text
from annotations.pair_forms import DpoPairsForm
from annotations.selectors.rating import CaseView, RatingPage, SlotView, rating_form_rows
from annotations.selectors.setup import study_setup
from annotations.selectors.studies import (
    rating_sample_makeup,
    study_get,
    study_overview,
    study_progress,
    study_special_cases,
)
from annotations.services.lifecycle import study_set_status
from annotations.services.planner import assignments_plan
from annotations.services.studies import STUDY_SETTINGS, rating_sample_draw, study_save
from evalportal.roles import ADMIN, RESEARCHER, role_required


@role_required(RESEARCHER, ADMIN)
def study_list(request):
    return render(request, "annotations/study_list.html", {"studies": study_overview()})


@role_required(RESEARCHER, ADMIN)
def study_detail(request, slug):
    return study_page(request, study_get(slug))


def study_page(request, study, *, dataset_export_form=None, dpo_pairs_form=None, status: int = 200):
    """The study page; a refused form is shown again, bound, with what was typed."""
    return render(request, "annotations/study_detail.html", {
        "study": study, "progress": study_progress(study), "sample": rating_sample_makeup(study),
        "sample_form": RatingSampleForm(), "special_cases": study_special_cases(study), "setup": study_setup(study),
        "dataset_export_form": dataset_export_form or DatasetExportForm(),
        "dpo_pairs_form": dpo_pairs_form or DpoPairsForm()}, status=status)


@role_required(RESEARCHER, ADMIN)
@require_POST
def study_plan(request, slug):
    study = study_get(slug)
    try:
        result = assignments_plan(study=study, actor=request.user)
    except DomainError as exc:
        messages.error(request, f"Not planned: {exc}")
    else:
        messages.success(request, result.message)
    return redirect("study-detail", slug=slug)


@role_required(RESEARCHER, ADMIN)
@require_POST
def study_sample(request, slug):
    study = study_get(slug)
    form = RatingSampleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not drawn: " + errors_text(form))
        return redirect("study-detail", slug=slug)
    try:
        drawn = rating_sample_draw(study=study, size=form.cleaned_data["size"], actor=request.user)["drawn"]
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Drew a rating sample of {drawn} test cases; plan the assignments to give them "
                                  "to the clinicians.")
    return redirect("study-detail", slug=slug)


@role_required(RESEARCHER, ADMIN)
@require_POST
def study_status(request, slug):
    study = study_get(slug)
    try:
        study_set_status(study=study, status=request.POST.get("status", ""), reason=request.POST.get("reason", ""),
                         actor=request.user)
    except DomainError as exc:
        messages.error(request, f"Status not changed: {exc}")
    else:
        messages.success(request, f"The study is now {study.get_status_display().lower()}.")
    return redirect("study-detail", slug=slug)


def _study_form_page(request, study):
    form = StudyForm(request.POST or None, instance=study)
    status = 200
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in STUDY_SETTINGS}
        arms = None if form.fields["arms"].disabled else list(form.cleaned_data["arms"])
        rubric = None if form.fields["rubric"].disabled else form.cleaned_data["rubric"]
        try:
            saved = study_save(study=study, values=values, arms=arms, rubric=rubric, actor=request.user)
        except DomainError as exc:
            # Shown with the form as it was typed; nothing was saved.
            form.add_error(None, str(exc))
            status = exc.status
        else:
            messages.success(request, f"Saved {saved.name}.")
            return redirect("study-detail", slug=saved.slug)
    return render(request, "annotations/study_form.html", {"form": form, "study": study},
                  status=400 if form.errors and status == 200 else status)


# What the rubric's preview shows under its dimensions: a response as raters would read one.
PREVIEW_RESPONSE = ("Before the 18:00 dose, check today's platelet count: it has halved since Monday. "
                    "If it is still falling, hold the heparin and send a PF4 test.")


@role_required(RESEARCHER, ADMIN)
@require_POST
def rubric_preview(request):
    """The posted rubric as raters will see it under a response (an htmx fragment of the
    settings page), or what is wrong with it."""
    form = RubricPreviewForm(request.POST)
    if not form.is_valid():
        return render(request, "annotations/_rubric_preview.html", {"problems": form.errors.get("rubric", [])})
    page = RatingPage(assignment_id=0, case=CaseView(specialty="", turns=[], tables=[], images=[]),
                      slots=[SlotView(0, "A", PREVIEW_RESPONSE)], rubric=form.cleaned_data["rubric"], draft={},
                      position=1, total=1, submitted=False, instructions="")
    return render(request, "annotations/_rubric_preview.html", {"rows": rating_form_rows(page, {}), "errors": {}})


@role_required(RESEARCHER, ADMIN)
def study_new(request):
    return _study_form_page(request, None)


@role_required(RESEARCHER, ADMIN)
def study_edit(request, slug):
    return _study_form_page(request, study_get(slug))

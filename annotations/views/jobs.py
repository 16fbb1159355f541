"""The jobs page: every kind of job of a study (annotations.job_kinds) with live progress;
admins queue generation and training here, and cancel or retry any job. Never reachable
by clinicians."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotations.errors import DomainError
from annotations.forms import GenerationJobForm, TrainingJobForm, errors_text
from annotations.selectors.jobs import study_job_get, study_jobs
from annotations.selectors.studies import study_get
from annotations.services.generation import generation_job_queue
from annotations.services.jobs import job_cancel, job_retry
from annotations.services.training import training_job_queue
from evalportal.roles import ADMIN, RESEARCHER, role_required

JOB_ACTIONS = {
    "cancel": (job_cancel, "Cancel requested for job #{pk}: work under way stops after its current batch, work whose worker "
               "was lost ends now."),
    "retry": (job_retry, "Job #{pk} queued again; it resumes where it stopped."),
}


def _page(request, study, *, status: int = 200, **forms):
    """The jobs page; a refused form is shown again, bound, with what was typed."""
    context = {"study": study, "rows": study_jobs(study, viewer=request.user),
               "generation_form": forms.get("generation_form") or GenerationJobForm(study=study),
               "training_form": forms.get("training_form") or TrainingJobForm()}
    template = "annotations/_job_table.html" if request.htmx else "annotations/job_list.html"
    return render(request, template, context, status=status)


@role_required(RESEARCHER, ADMIN)
def job_list(request, slug):
    return _page(request, study_get(slug))


def _queue(request, study, form_name: str, form, queue, describe):
    """Queue what a valid ``form`` asks for with ``queue(cleaned_data)`` and go back to
    the page; a form or a service that refuses shows the page again with the form as it
    was typed, the reason above it (status 400, or the refusal's own)."""
    status = 400
    if form.is_valid():
        try:
            job = queue(form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, str(exc))
            status = exc.status
        else:
            messages.success(request, describe(job))
            return redirect("job-list", slug=study.slug)
    messages.error(request, "Not queued: " + errors_text(form))
    return _page(request, study, status=status, **{form_name: form})


@role_required(ADMIN)
@require_POST
def queue_generation(request, slug):
    study = study_get(slug)
    form = GenerationJobForm(request.POST, study=study)
    return _queue(request, study, "generation_form", form, lambda data: generation_job_queue(
        study=study, arm=data["arm"], cases=data["cases"], only_missing=data["only_missing"], actor=request.user,
        decoding_params=form.decoding_params(), seed=data["seed"]),
        lambda job: f"Queued generation job #{job.pk} ({job.progress_total} cases).")


@role_required(ADMIN)
@require_POST
def queue_training(request, slug):
    study = study_get(slug)
    form = TrainingJobForm(request.POST)
    return _queue(request, study, "training_form", form, lambda data: training_job_queue(
        study=study, method=data["method"], base_model=data["base_model"], actor=request.user,
        hyperparameters=form.hyperparameters()), lambda job: f"Queued training job #{job.pk}.")


@role_required(ADMIN)
@require_POST
def job_action(request, slug, kind, pk, action):
    job = study_job_get(study_get(slug), kind, pk)
    if action not in JOB_ACTIONS:
        messages.error(request, f"Unknown action {action!r}.")
        return redirect("job-list", slug=slug)
    service, done = JOB_ACTIONS[action]
    try:
        service(job=job, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(pk=job.pk))
    return redirect("job-list", slug=slug)

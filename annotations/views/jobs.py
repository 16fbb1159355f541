"""Admins queue generation and training; researchers and admins watch jobs and read
what they produced (unblinded; never reachable by clinicians)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotations.forms import GenerationJobForm, TrainingJobForm
from annotations.models import GenerationJob, Study, TrainingJob
from annotations.selectors.jobs import study_jobs, study_responses_by_case
from annotations.services import jobs as job_services
from evalportal.roles import ADMIN, RESEARCHER, role_required


@role_required(RESEARCHER, ADMIN)
def job_list(request, slug):
    study = get_object_or_404(Study, slug=slug)
    context = {"study": study, "jobs": study_jobs(study),
               "generation_form": GenerationJobForm(study=study), "training_form": TrainingJobForm()}
    template = "annotations/_job_table.html" if request.htmx else "annotations/job_list.html"
    return render(request, template, context)


@role_required(ADMIN)
@require_POST
def queue_generation(request, slug):
    study = get_object_or_404(Study, slug=slug)
    form = GenerationJobForm(request.POST, study=study)
    if form.is_valid():
        try:
            job = job_services.job_queue_generation(study=study, arm=form.cleaned_data["arm"],
                                                    cases=form.cleaned_data["cases"], actor=request.user,
                                                    decoding_params=form.decoding_params())
        except (job_services.QueueUnavailable, job_services.JobStateError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Queued generation job #{job.pk} ({job.progress_total} cases).")
    else:
        messages.error(request, "Not queued: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("job-list", slug=slug)


@role_required(ADMIN)
@require_POST
def queue_training(request, slug):
    study = get_object_or_404(Study, slug=slug)
    form = TrainingJobForm(request.POST)
    if form.is_valid():
        try:
            job = job_services.job_queue_training(study=study, method=form.cleaned_data["method"],
                                                  base_model=form.cleaned_data["base_model"], actor=request.user,
                                                  hyperparameters=form.hyperparameters())
        except (job_services.QueueUnavailable, job_services.JobStateError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Queued training job #{job.pk}.")
    else:
        messages.error(request, "Not queued: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("job-list", slug=slug)


def _job(slug, kind, pk):
    model = {"generation": GenerationJob, "training": TrainingJob}.get(kind)
    if model is None:
        from django.http import Http404

        raise Http404
    return get_object_or_404(model, pk=pk, study__slug=slug)


@role_required(ADMIN)
@require_POST
def job_action(request, slug, kind, pk, action):
    job = _job(slug, kind, pk)
    try:
        if action == "cancel":
            job_services.job_cancel(job=job, actor=request.user)
            messages.success(request, f"Cancel requested for job #{job.pk}: it stops after the current chunk.")
        elif action == "retry":
            job_services.job_retry(job=job, actor=request.user)
            messages.success(request, f"Job #{job.pk} queued again; it resumes where it stopped.")
        else:
            messages.error(request, f"Unknown action {action!r}.")
    except (job_services.QueueUnavailable, job_services.JobStateError) as exc:
        messages.error(request, str(exc))
    return redirect("job-list", slug=slug)


@role_required(RESEARCHER, ADMIN)
def response_list(request, slug):
    study = get_object_or_404(Study, slug=slug)
    return render(request, "annotations/response_list.html",
                  {"study": study, "rows": study_responses_by_case(study),
                   "arms": [sa.arm for sa in study.study_arms.select_related("arm")]})

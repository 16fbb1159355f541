"""A study's judge page: admins queue LLM-judge jobs; researchers and admins read the
judge's scores next to the clinicians', the figures and the concordance, and download
every prompt and raw output for audit. Never reachable by clinicians."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotations.errors import DomainError
from annotations.forms import JudgeJobForm, errors_text
from annotations.judge_dashboard import FIGURES, concordance_rows, figure_json, figure_rows
from annotations.models.judge import JudgeScore
from annotations.selectors.jobs import study_jobs
from annotations.selectors.judge import (
    MAX_SCORE_ROWS,
    judge_item_errors,
    judge_job_get,
    judge_job_shown,
    judge_jobs_recent,
    judge_score_get,
    judge_score_table,
    judge_scores_all,
)
from annotations.selectors.studies import study_get
from annotations.services.jobs import job_cancel, job_retry
from annotations.services.judge_analysis import judge_analyse
from annotations.services.judging import judge_job_queue
from annotations.views.downloads import csv_download
from evalportal.roles import ADMIN, RESEARCHER, has_role, role_required


@role_required(RESEARCHER, ADMIN)
def judge_page(request, slug):
    study = study_get(slug)
    jobs = judge_jobs_recent(study)
    job = judge_job_shown(study, request.GET.get("job"))
    analysis = job.analysis if job and job.analysis and "error" not in job.analysis else None
    figures = figure_json(analysis) if analysis and analysis["meta"]["n_judge_scores"] else {}
    keys, score_rows = judge_score_table(job) if job else ([], [])
    context = {
        "study": study, "jobs": jobs, "job": job, "analysis": analysis,
        "analysis_error": (job.analysis or {}).get("error") if job else None,
        "figures": figures, "figures_json": {k: v["figure"] for k, v in figures.items()},
        "concordance": concordance_rows(analysis) if analysis else [],
        "means": analysis["means"] if analysis else [],
        "pairwise": analysis.get("pairwise") if analysis else None,
        "planted": analysis.get("planted") if analysis else None,
        "score_keys": keys, "score_rows": score_rows, "max_score_rows": MAX_SCORE_ROWS,
        "any_active": any(j.is_active for j in jobs),
        "retryable": {row.job.pk for row in study_jobs(study, kinds=("judge",)) if row.retryable},
        "form": JudgeJobForm(study=study) if has_role(request.user, [ADMIN]) else None,
        "item_errors": judge_item_errors(job) if job else {},
    }
    return render(request, "annotations/judge.html", context)


@role_required(ADMIN)
@require_POST
def judge_queue(request, slug):
    study = study_get(slug)
    form = JudgeJobForm(request.POST, study=study)
    if not form.is_valid():
        messages.error(request, "Not queued: " + errors_text(form))
        return redirect("judge", slug=slug)
    data = form.cleaned_data
    try:
        job = judge_job_queue(
            study=study, kind=data["kind"], model_ref=data["model_ref"].strip(),
            adapter_path=data["adapter_path"].strip(), base_url=data["base_url"], dimensions=data["dimensions"],
            pairwise=data["pairwise"], planted=data["planted"], params=form.params(), arms=data["arms"],
            responses=data["responses"], actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("judge", slug=slug)
    planted = " and the planted-problem reading" if job.planted else ""
    messages.success(request, f"Queued judge job #{job.pk} ({job.progress_total} prompts: {job.response_count} "
                              f"responses × {len(job.dimensions)} dimensions{planted}).")
    return redirect(f"{reverse('judge', args=[slug])}?job={job.pk}")


@role_required(RESEARCHER, ADMIN)
@require_POST
def judge_job_action(request, slug, pk, action):
    """cancel and retry (admins); analyse (recompute the stored analysis; researchers too)."""
    job = judge_job_get(study_get(slug), pk)
    if action in ("cancel", "retry") and not has_role(request.user, [ADMIN]):
        raise PermissionDenied("Only admins cancel or retry jobs.")
    try:
        if action == "cancel":
            job_cancel(job=job, actor=request.user)
            messages.success(request, f"Cancel requested for judge job #{job.pk}: it stops after the current batch.")
        elif action == "retry":
            job_retry(job=job, actor=request.user)
            messages.success(request, f"Judge job #{job.pk} queued again; it resumes where it stopped.")
        elif action == "analyse":
            result = judge_analyse(job=job)
            messages.success(request, f"Analysis recomputed ({result['meta']['compute_seconds']:.1f} s).")
        else:
            raise Http404("No such action.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('judge', args=[slug])}?job={job.pk}")


@role_required(RESEARCHER, ADMIN)
def judge_figure_csv(request, slug, pk, figure):
    job = judge_job_get(study_get(slug), pk)
    if figure not in FIGURES:
        raise Http404("No such figure.")
    if not job.analysis or "error" in job.analysis:
        raise Http404("Not analysed yet.")
    return csv_download(figure_rows(job.analysis, figure), f"{slug}-judge{job.pk}-{figure}.csv")


def _score_record(score: JudgeScore) -> dict:
    return {"id": score.pk, "job": score.job_id, "response": score.response_id,
            "case": score.response.case.external_id, "arm": score.response.arm.name, "dimension": score.dimension,
            "score": score.score, "judge_score": score.judge_score, "method": score.method,
            "distribution": score.distribution, "mass": score.mass, "prompt": score.prompt,
            "raw_output": score.raw_output, "created_at": score.created_at.isoformat()}


@role_required(RESEARCHER, ADMIN)
def judge_scores_export(request, slug, pk):
    """Every score of a job with its prompt and raw output, as JSON Lines (streamed)."""
    job = judge_job_get(study_get(slug), pk)

    def lines():
        yield json.dumps({"job": job.pk, "kind": job.kind, "model": job.model_ref, "dimensions": job.dimensions,
                          "params": job.params, "judge_provenance": job.judge_provenance}) + "\n"
        for score in judge_scores_all(job):
            yield json.dumps(_score_record(score), ensure_ascii=False) + "\n"

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-judge{job.pk}-scores.jsonl"'
    return response


@role_required(RESEARCHER, ADMIN)
def judge_score_detail(request, slug, pk):
    """One score's prompt and raw output (audit)."""
    score = judge_score_get(study_get(slug), pk)
    return JsonResponse(_score_record(score), json_dumps_params={"indent": 2, "ensure_ascii": False})

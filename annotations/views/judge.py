"""A study's judge page (issue 8): admins queue LLM-judge jobs; researchers and admins
read the judge's scores next to the clinicians', the figures and the concordance, and
download every prompt and raw output for audit. Never reachable by clinicians."""

from __future__ import annotations

import json
from urllib.parse import urlparse

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotations.judge_dashboard import FIGURES, concordance_rows, figure_json, figure_rows
from annotations.models import JobStatus, Study
from annotations.models.judge import JudgeJob, JudgeScore
from annotations.services import judging
from annotations.views.downloads import csv_download
from evalportal.roles import ADMIN, RESEARCHER, has_role, role_required

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
MAX_SCORE_ROWS = 200


class JudgeJobForm(forms.Form):
    kind = forms.ChoiceField(choices=JudgeJob.Kind.choices, initial=JudgeJob.Kind.LOCAL)
    model_ref = forms.CharField(
        max_length=500, required=False, label="Model",
        help_text='Local: "demo", a Hugging Face directory or a .gguf file (default demo). '
                  "Endpoint: the model name (default: the JUDGE_OPENAI_MODEL setting).")
    adapter_path = forms.CharField(max_length=500, required=False, help_text="Local only: a LoRA adapter directory.")
    base_url = forms.CharField(max_length=500, required=False, label="Base URL",
                               help_text="Endpoint only, e.g. http://gpu-node:8000/v1 (default: the "
                                         "JUDGE_OPENAI_BASE_URL setting). The API key comes from the settings.")
    dimensions = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    pairwise = forms.BooleanField(required=False, help_text="Also compare each case's responses pairwise, in both "
                                                            "orders (position-swap consistency).")
    use_reference = forms.BooleanField(required=False, help_text="Show the judge the case's reference response.")
    logprobs = forms.ChoiceField(choices=[("auto", "auto"), ("on", "required"), ("off", "never (sample)")],
                                 initial="auto", help_text="Endpoint only: score from top_logprobs when offered, "
                                                           "else average samples.")
    n_samples = forms.IntegerField(min_value=1, max_value=50, initial=10,
                                   help_text="Endpoint only: samples averaged when there are no logprobs.")

    def __init__(self, *args, **kwargs):
        from modeling.judge import DEFAULT_DIMENSIONS

        super().__init__(*args, **kwargs)
        self.fields["dimensions"].choices = [(d.key, f"{d.label} ({d.out_min:g}-{d.out_max:g})")
                                             for d in DEFAULT_DIMENSIONS]
        self.fields["dimensions"].initial = [d.key for d in DEFAULT_DIMENSIONS]

    def clean_base_url(self):
        url = self.cleaned_data["base_url"].strip()
        if url and urlparse(url).scheme not in ("http", "https"):
            raise forms.ValidationError("Give an http(s) URL.")
        return url

    def params(self) -> dict:
        logprobs = {"auto": "auto", "on": True, "off": False}[self.cleaned_data["logprobs"]]
        return {"use_reference": self.cleaned_data["use_reference"], "logprobs": logprobs,
                "n_samples": self.cleaned_data["n_samples"]}


def _selected_job(study: Study, pk: str | None) -> JudgeJob | None:
    jobs = JudgeJob.objects.filter(study=study)
    if pk:
        try:
            return jobs.filter(pk=int(pk)).first()
        except ValueError:
            return None
    return (jobs.filter(analysis__isnull=False).exclude(analysis__has_key="error").order_by("-created_at").first()
            or jobs.order_by("-created_at").first())


def _score_table(job: JudgeJob) -> tuple[list[str], list[dict]]:
    """One row per judged response (case, arm) with its score on each dimension."""
    keys = job.dimension_keys
    rows: dict[int, dict] = {}
    scores = (JudgeScore.objects.filter(job=job).select_related("response__case", "response__arm")
              .only("id", "dimension", "score", "response__id", "response__case__external_id",
                    "response__arm__name").order_by("response__case__external_id", "response__arm__name"))
    for score in scores.iterator(chunk_size=2000):
        row = rows.get(score.response_id)
        if row is None:
            if len(rows) >= MAX_SCORE_ROWS:
                continue
            row = rows[score.response_id] = {"case": score.response.case.external_id,
                                             "arm": score.response.arm.name, "cells": {}}
        row["cells"][score.dimension] = score
    table = []
    for row in rows.values():
        row["cells"] = [row["cells"].get(k) for k in keys]
        table.append(row)
    return keys, table


@role_required(RESEARCHER, ADMIN)
def judge_page(request, slug):
    study = get_object_or_404(Study, slug=slug)
    jobs = list(JudgeJob.objects.filter(study=study).select_related("created_by").order_by("-created_at")[:20])
    job = _selected_job(study, request.GET.get("job"))
    analysis = job.analysis if job and job.analysis and "error" not in job.analysis else None
    figures = figure_json(analysis) if analysis and analysis["meta"]["n_judge_scores"] else {}
    keys, score_rows = _score_table(job) if job else ([], [])
    context = {
        "study": study, "jobs": jobs, "job": job, "analysis": analysis,
        "analysis_error": (job.analysis or {}).get("error") if job else None,
        "figures": figures, "figures_json": {k: v["figure"] for k, v in figures.items()},
        "concordance": concordance_rows(analysis) if analysis else [],
        "means": analysis["means"] if analysis else [],
        "pairwise": analysis.get("pairwise") if analysis else None,
        "score_keys": keys, "score_rows": score_rows, "max_score_rows": MAX_SCORE_ROWS,
        "any_active": any(j.status in ACTIVE for j in jobs),
        "form": JudgeJobForm() if has_role(request.user, [ADMIN]) else None,
    }
    return render(request, "annotations/judge.html", context)


@role_required(ADMIN)
@require_POST
def judge_queue(request, slug):
    study = get_object_or_404(Study, slug=slug)
    form = JudgeJobForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            job = judging.judge_job_queue(
                study=study, kind=data["kind"], model_ref=data["model_ref"].strip(),
                adapter_path=data["adapter_path"].strip(), base_url=data["base_url"], dimensions=data["dimensions"],
                pairwise=data["pairwise"], params=form.params(), actor=request.user)
        except (judging.QueueUnavailable, judging.JobStateError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Queued judge job #{job.pk} ({job.responses.count()} responses × "
                                      f"{len(job.dimensions)} dimensions).")
            return redirect(f"{reverse('judge', args=[slug])}?job={job.pk}")
    else:
        messages.error(request, "Not queued: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("judge", slug=slug)


@role_required(RESEARCHER, ADMIN)
@require_POST
def judge_job_action(request, slug, pk, action):
    """cancel and retry (admins); analyse (recompute the stored analysis; researchers too)."""
    job = get_object_or_404(JudgeJob, pk=pk, study__slug=slug)
    if action in ("cancel", "retry") and not has_role(request.user, [ADMIN]):
        raise PermissionDenied("Only admins cancel or retry jobs.")
    try:
        if action == "cancel":
            judging.judge_job_cancel(job=job, actor=request.user)
            messages.success(request, f"Cancel requested for judge job #{job.pk}: it stops after the current batch.")
        elif action == "retry":
            judging.judge_job_retry(job=job, actor=request.user)
            messages.success(request, f"Judge job #{job.pk} queued again; it resumes where it stopped.")
        elif action == "analyse":
            result = judging.judge_analyse(job=job)
            messages.success(request, f"Analysis recomputed ({result['meta']['compute_seconds']:.1f} s).")
        else:
            raise Http404("No such action.")
    except (judging.QueueUnavailable, judging.JobStateError) as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('judge', args=[slug])}?job={job.pk}")


@role_required(RESEARCHER, ADMIN)
def judge_figure_csv(request, slug, pk, figure):
    job = get_object_or_404(JudgeJob, pk=pk, study__slug=slug)
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
    job = get_object_or_404(JudgeJob, pk=pk, study__slug=slug)
    scores = JudgeScore.objects.filter(job=job).select_related("response__case", "response__arm").order_by("pk")

    def lines():
        yield json.dumps({"job": job.pk, "kind": job.kind, "model": job.model_ref, "dimensions": job.dimensions,
                          "params": job.params, "judge_provenance": job.judge_provenance}) + "\n"
        for score in scores.iterator(chunk_size=500):
            yield json.dumps(_score_record(score), ensure_ascii=False) + "\n"

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-judge{job.pk}-scores.jsonl"'
    return response


@role_required(RESEARCHER, ADMIN)
def judge_score_detail(request, slug, pk):
    """One score's prompt and raw output (audit)."""
    score = get_object_or_404(JudgeScore.objects.select_related("response__case", "response__arm"), pk=pk,
                              job__study__slug=slug)
    return JsonResponse(_score_record(score), json_dumps_params={"indent": 2, "ensure_ascii": False})

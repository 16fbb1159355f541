"""The researcher dashboard: reads the stored analysis; never recomputes on a page load."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotations.dashboards import (
    FIGURES,
    TABLES,
    figure_json,
    figure_rows,
    leaderboard_rows,
    reading_agreement_rows,
    style_coefficient_rows,
)
from annotations.errors import DomainError, InvalidRequest
from annotations.rating_input import slot_letter
from annotations.selectors.analysis import study_sensitivity
from annotations.selectors.gold import study_gold_agreement
from annotations.selectors.harms import harms_by_arm
from annotations.selectors.raters import study_raters
from annotations.selectors.readings import TERMS_LABEL, planted_jobs
from annotations.selectors.studies import study_analysis, study_get
from annotations.services.aggregation import aggregation_request, aggregation_resume_pending, study_aggregate
from annotations.services.planted_reading import study_planted_reading_set
from annotations.views.downloads import csv_download
from evalportal.roles import ADMIN, RESEARCHER, role_required


def _tables(result: dict) -> dict:
    """Rows the template shows as tables, picked out of the stored result."""
    if not result:
        return {}
    likert = [d["key"] for d in result["meta"]["dimensions"] if d.get("scale") == "likert"]
    records = result["descriptives"]["records"]
    leaderboard = leaderboard_rows(result)
    return {
        "overall": [r for r in records if r["scope"] == "overall" and r["dimension"] in likert],
        "by_category": [r for r in records if r["scope"] == "category" and r["dimension"] in likert],
        "paired": [t for t in result["paired_tests"] if t["scope"] == "overall"],
        "judgments": [j for j in result["judgments"] if j["scope"] == "overall"],
        "pairs": result["preferences"]["pairs"],
        "bt": result["preferences"]["bradley_terry"],
        "style_controlled": result["preferences"].get("style_controlled") or {},
        "leaderboard": leaderboard,
        "style_coefficients": style_coefficient_rows(result),
        "leaderboards_disagree": any(r["plain_rank"] != r["style_rank"] for r in leaderboard
                                     if r["style_rank"] is not None),
        "alpha": [{**a, "shown": interval_text(a.get("alpha"), a.get("ci"))} for a in result["agreement"]["alpha"]],
        "warnings": result["meta"].get("warnings", []),
        "pairs_ci_method": result["preferences"].get("ci_method", ""),
        "severity": result["agreement"]["rater_severity"],
        "first_choice": [_first_choice_line(f) for f in result["position_bias"]["first_choice"]],
        "automatic": _automatic_rows(result),
        "automatic_differences": [d for d in (result.get("automatic_comparison") or {}).get("differences", [])
                                  if d["scope"] in ("overall", "proactive")],
        "automatic_comparison": result.get("automatic_comparison") or {},
        "automatic_reading": (result.get("automatic_reading") or {}).get("label") or TERMS_LABEL,
        "reading_agreement": _reading_tables(result),
    }


def _first_choice_line(record: dict) -> dict:
    """One group of the position-bias audit (rankings of the same number of responses) as
    the page prints it: each slot's letter and share ranked first, beside the share each
    would have without a bias."""
    return {"n_slots": record["n_slots"], "n_rankings": record["n_rankings"], "p_value": record["p_value"],
            "expected_percent": round(100 * record["expected_share"]),
            "slots": [{"letter": slot_letter(i), "percent": round(100 * share)}
                      for i, share in enumerate(record["shares"])]}


def _reading_tables(result: dict) -> dict:
    """The reading-vs-clinician agreement as the dashboard shows it: one table per
    reading (the terms', then the judge's), rows per arm and the overall last."""
    agreement = result.get("reading_agreement") or {}
    rows = reading_agreement_rows(result)
    judge = (agreement.get("meta") or {}).get("judge") or {}
    titles = {"automatic": TERMS_LABEL, "judge": judge.get("label") or "the LLM judge's planted reading"}
    titles = {key: label[:1].upper() + label[1:] for key, label in titles.items()}
    tables = [{"reading": key, "title": titles.get(key, key), "rows": [r for r in rows if r["reading"] == key]}
              for key in dict.fromkeys(r["reading"] for r in rows)]
    same = ((agreement.get("readings") or {}).get("judge") or {}).get("terms_same_units")
    return {"computed": bool(agreement), "tables": [t for t in tables if t["rows"]],
            "dimension": (agreement.get("meta") or {}).get("intervention_dimension"),
            "terms_same_units": same["overall"] if same else None}


def interval_text(value, ci) -> str:
    """"0.62 [0.41, 0.80]", or why there is no number: an undefined estimate (alpha with
    no variation or no pairable values) reads "undefined", never "[, ]"."""
    if value is None:
        return "undefined (too few pairable values, or no variation)"
    lo, hi = (ci or [None, None])[:2]
    if lo is None or hi is None:
        return f"{value:.2f} (no interval)"
    return f"{value:.2f} [{lo:.2f}, {hi:.2f}]"


def _automatic_rows(result: dict) -> list[dict]:
    """One row per arm: Macro F1 with its CI, per category, and the proactive measures."""
    comparison = (result.get("automatic_comparison") or {}).get("arms", {})
    rows = []
    for arm, s in result.get("automatic", {}).items():
        ci = comparison.get(arm, {})
        proactive = s.get("proactive", {})
        behavior = s.get("behavior", {})
        rows.append({
            "arm": arm, "macro_f1": s["overall"]["macro_f1"], "ci": ci.get("ci") or [None, None],
            "categories": [s["categories"].get(c, {}).get("macro_f1") for c in ("reactive", "balanced", "proactive")],
            "proactive_ci": ci.get("categories", {}).get("proactive", {}).get("ci") or [None, None],
            "flag_rate": proactive.get("flag_rate"), "issue_found": proactive.get("issue_found_rate"),
            "restraint": proactive.get("restraint_accuracy"), "over": proactive.get("over_intervention_rate"),
            "unverified": proactive.get("unverified_flags"),
            "concern": s.get("balanced", {}).get("concern_found_rate"),
            "behavior": behavior.get("accuracy"), "behavior_controlled": behavior.get("accuracy_question_controlled"),
            "tokens": s.get("length", {}).get("mean_tokens"),
        })
    return rows


@role_required(RESEARCHER, ADMIN)
def dashboard(request, slug):
    study = study_get(slug)
    aggregation_resume_pending(study=study)
    analysis = study_analysis(study)
    result = analysis.result if analysis and analysis.result else None
    figures = figure_json(result) if result and result["meta"]["n_ratings"] else {}
    return render(request, "annotations/dashboard.html", {
        "study": study, "analysis": analysis, "result": result, "tables": _tables(result),
        "figures": figures, "figures_json": {k: v["figure"] for k, v in figures.items()},
        "by_arm": harms_by_arm(study), "gold": study_gold_agreement(study), "raters": study_raters(study),
        "planted_jobs": planted_jobs(study),
    })


def _overall_means(result: dict | None) -> dict:
    """(dimension, arm) -> the overall Likert record of an analysis result."""
    if not result:
        return {}
    likert = {d["key"] for d in result["meta"]["dimensions"] if d.get("scale") == "likert"}
    return {(r["dimension"], r["arm"]): r for r in result["descriptives"]["records"]
            if r["scope"] == "overall" and r["dimension"] in likert}


@role_required(RESEARCHER, ADMIN)
def sensitivity(request, slug):
    """The analysis rerun without chosen raters, beside the main one."""
    study = study_get(slug)
    raters = study_raters(study)
    known = {r["user"].pk for r in raters}
    exclude = {int(v) for v in request.GET.getlist("exclude") if v.isdigit() and int(v) in known}
    analysis = study_analysis(study)
    main = _overall_means(analysis.result if analysis else None)
    rerun = _overall_means(study_sensitivity(study, exclude_raters=exclude)) if exclude else {}
    rows = [{"dimension": d, "arm": a, "main": main.get((d, a)), "rerun": rerun.get((d, a))}
            for d, a in (main or rerun)]
    return render(request, "annotations/sensitivity.html", {
        "study": study, "raters": raters, "exclude": exclude, "rows": rows,
        "excluded_names": [r["user"].username for r in raters if r["user"].pk in exclude]})


@role_required(RESEARCHER, ADMIN)
@require_POST
def recompute(request, slug):
    study = study_get(slug)
    if aggregation_request(study_id=study.pk, countdown=0):
        messages.success(request, "Recomputing in the background; reload in a moment.")
    else:
        analysis = study_aggregate(study=study)
        messages.warning(request, f"The task queue is unreachable, so the analysis ran here "
                                  f"({analysis.compute_seconds:.1f} s).")
    return redirect("dashboard", slug=slug)


@role_required(RESEARCHER, ADMIN)
@require_POST
def planted_reading(request, slug):
    """Choose what the automatic metrics read "was the planted problem named" from."""
    study = study_get(slug)
    choice = request.POST.get("job", "")
    # A number names a job or none (the service says which); anything else is no choice.
    job_id = int(choice) if choice.isascii() and choice.isdigit() else None
    try:
        if choice and job_id is None:
            raise InvalidRequest("Choose the terms' reading or one of the study's judge jobs.")
        queued = study_planted_reading_set(study=study, job_id=job_id, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("dashboard", slug=slug)
    source = f"judge job #{job_id}" if job_id is not None else TERMS_LABEL
    if queued:
        messages.success(request, f"The automatic metrics now read the planted problem from {source}; "
                                  "recomputing in the background, reload in a moment.")
    else:
        analysis = study_aggregate(study=study)
        messages.warning(request, f"The automatic metrics now read the planted problem from {source}. The task "
                                  f"queue is unreachable, so the analysis ran here ({analysis.compute_seconds:.1f} s).")
    return redirect("dashboard", slug=slug)


@role_required(RESEARCHER, ADMIN)
def figure_csv(request, slug, figure):
    study = study_get(slug)
    if figure not in FIGURES and figure not in TABLES:
        raise Http404("No such figure.")
    analysis = study_analysis(study)
    if not analysis or not analysis.result:
        raise Http404("Not computed yet.")
    return csv_download(figure_rows(analysis.result, figure), f"{study.slug}-{figure}.csv")

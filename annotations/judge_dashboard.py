"""Plotly figures of a judge job's stored analysis (``JudgeJob.analysis``), and the data
behind each as rows (CSV). Rendering never recomputes statistics.

- ``means``: judge scores per arm next to clinicians' ratings (95% CIs), per dimension.
- ``density``: density of the judge's scores per arm, one dimension at a time
  (specificity first: the paper's Fig. 2 shows specificity and implicitness).
- ``scatter``: judge score against the mean clinician rating, per response.
- ``concordance``: Spearman's rho and Krippendorff's alpha (clinicians alone, and with
  the judge as one more rater) per dimension, with CIs.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import plotly.graph_objects as go

from annotations.dashboards import arm_colour, figure_layout

FigureBuilder = Callable[[dict], tuple[go.Figure, list[dict]]]
DENSITY_FIRST = ("specificity", "implicitness")


def _arms(analysis: dict) -> list[str]:
    return analysis["meta"]["arms"]


def _error_bars(records: list[dict | None]) -> dict:
    return {"type": "data", "symmetric": False,
            "array": [(r["mean_ci"][1] - r["mean"]) if r and r["mean_ci"][1] is not None else 0 for r in records],
            "arrayminus": [(r["mean"] - r["mean_ci"][0]) if r and r["mean_ci"][0] is not None else 0
                           for r in records]}


def means_judge_vs_clinicians(analysis: dict) -> tuple[go.Figure, list[dict]]:
    """Grouped bars per dimension and arm: clinicians (solid) and judge (hatched)."""
    arms = _arms(analysis)
    records = analysis["means"]
    dims = list(dict.fromkeys(r["dimension"] for r in records))
    shared = [d for d in dims if any(r["source"] == "clinicians" and r["dimension"] == d for r in records)]
    likert = [d["key"] for d in analysis["meta"]["judge_dimensions"] if (d.get("out_min"), d.get("out_max")) ==
              (d.get("min"), d.get("max"))]
    dims = [d for d in dims if d in likert] + [d for d in dims if d not in likert]
    fig = go.Figure()
    for source, pattern in (("clinicians", ""), ("judge", "/")):
        for arm in arms:
            mine = [next((r for r in records if r["source"] == source and r["arm"] == arm and r["dimension"] == d),
                         None) for d in dims]
            if not any(mine):
                continue
            fig.add_bar(name=f"{arm} ({source})", x=dims,
                        y=[r["mean"] if r else None for r in mine], offsetgroup=f"{arm}-{source}",
                        legendgroup=source, marker={"color": arm_colour(arms, arm), "pattern": {"shape": pattern},
                                                    "opacity": 1.0 if source == "clinicians" else 0.75},
                        error_y=_error_bars(mine))
    figure_layout(fig, "Judge and clinicians per arm (mean, 95% CI; hatched: judge)", barmode="group",
            yaxis={"title": "mean (1-5; specificity and implicitness 0-1)"},
            annotations=[] if shared else [{"text": "No clinician ratings on the judge's dimensions yet",
                                            "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 1.05}])
    data = [{"source": r["source"], "dimension": r["dimension"], "arm": r["arm"], "n": r["n"],
             "n_cases": r["n_cases"], "mean": r["mean"], "ci_low": r["mean_ci"][0], "ci_high": r["mean_ci"][1],
             "median": r["median"], "sd": r["sd"]} for r in records]
    return fig, data


def density_per_arm(analysis: dict) -> tuple[go.Figure, list[dict]]:
    """Density of the judge's scores per arm (kernel density, reflected at the scale's
    bounds), one dimension at a time through a menu; like the paper's Fig. 2."""
    arms = _arms(analysis)
    curves = analysis["densities"]
    dims = list(dict.fromkeys(c["dimension"] for c in curves))
    dims = [d for d in DENSITY_FIRST if d in dims] + [d for d in dims if d not in DENSITY_FIRST]
    fig = go.Figure()
    trace_dims: list[str] = []
    for dim in dims:
        for curve in (c for c in curves if c["dimension"] == dim):
            fig.add_scatter(x=curve["x"], y=curve["y"], mode="lines", name=f"{curve['arm']} (n={curve['n']})",
                            fill="tozeroy", opacity=0.5, visible=dim == dims[0],
                            line={"color": arm_colour(arms, curve["arm"]), "width": 2})
            trace_dims.append(dim)
    menu = [{"label": dim, "method": "update",
             "args": [{"visible": [d == dim for d in trace_dims]}, {"title.text": f"Judge {dim} per arm (density)"}]}
            for dim in dims]
    figure_layout(fig, f"Judge {dims[0]} per arm (density)" if dims else "Judge scores per arm (density)",
            xaxis={"title": "judge score"}, yaxis={"title": "density"},
            updatemenus=[{"buttons": menu, "direction": "down", "x": 1, "xanchor": "right", "y": 1.15}] if dims else [])
    data = [{"dimension": c["dimension"], "arm": c["arm"], "n": c["n"], "mean": c["mean"],
             "bandwidth": c["bandwidth"], "x": x, "density": y}
            for c in curves for x, y in zip(c["x"], c["y"])]
    return fig, data


def judge_vs_clinicians_scatter(analysis: dict) -> tuple[go.Figure, list[dict]]:
    arms = _arms(analysis)
    points = analysis.get("scatter") or []
    fig = go.Figure()
    trace_dims: list[str] = []
    dims = [p["dimension"] for p in points]
    for block in points:
        for arm in arms:
            idx = [i for i, a in enumerate(block["arm"]) if a == arm]
            if not idx:
                continue
            fig.add_scatter(x=[block["judge"][i] for i in idx], y=[block["clinicians"][i] for i in idx],
                            mode="markers", name=arm, visible=block["dimension"] == dims[0],
                            marker={"color": arm_colour(arms, arm), "size": 8, "opacity": 0.7})
            trace_dims.append(block["dimension"])
    menu = [{"label": dim, "method": "update", "args": [{"visible": [d == dim for d in trace_dims]}]} for dim in dims]
    figure_layout(fig, "Judge score against the mean clinician rating, per response",
            xaxis={"title": "judge (probability-weighted score)"}, yaxis={"title": "mean clinician rating"},
            updatemenus=[{"buttons": menu, "direction": "down", "x": 1, "xanchor": "right", "y": 1.15}] if dims else [])
    data = [{"dimension": b["dimension"], "arm": a, "judge": j, "clinicians": c}
            for b in points for j, c, a in zip(b["judge"], b["clinicians"], b["arm"])]
    return fig, data


def concordance_rows(analysis: dict) -> list[dict]:
    """The concordance table's rows (also its CSV)."""
    return [{"dimension": c["dimension"], "n_units": c["n_units"], "n_cases": c["n_cases"],
             "n_ratings": c["n_ratings"], "spearman_rho": c["spearman_rho"], "spearman_p": c["spearman_p"],
             "spearman_ci_low": c["spearman_ci"][0], "spearman_ci_high": c["spearman_ci"][1],
             "alpha_clinicians": c["alpha_clinicians"], "alpha_clinicians_ci_low": c["alpha_clinicians_ci"][0],
             "alpha_clinicians_ci_high": c["alpha_clinicians_ci"][1], "alpha_with_judge": c["alpha_with_judge"],
             "alpha_with_judge_ci_low": c["alpha_with_judge_ci"][0],
             "alpha_with_judge_ci_high": c["alpha_with_judge_ci"][1],
             "alpha_change_ci_low": c["alpha_change_ci"][0], "alpha_change_ci_high": c["alpha_change_ci"][1],
             "alpha_interval_clinicians": c["alpha_interval_clinicians"],
             "alpha_interval_with_judge": c["alpha_interval_with_judge"],
             "alpha_interval_with_judge_ci_low": c["alpha_interval_with_judge_ci"][0],
             "alpha_interval_with_judge_ci_high": c["alpha_interval_with_judge_ci"][1],
             "mean_difference": c["mean_difference"], "mean_difference_ci_low": c["mean_difference_ci"][0],
             "mean_difference_ci_high": c["mean_difference_ci"][1]}
            for c in analysis.get("concordance") or []]


def concordance_figure(analysis: dict) -> tuple[go.Figure, list[dict]]:
    """Per dimension: Spearman's rho, and alpha of the clinicians alone and with the
    judge, each with its CI (a forest plot)."""
    rows = concordance_rows(analysis)
    dims = [r["dimension"] for r in rows]
    fig = go.Figure()
    series = (("spearman_rho", "spearman_ci", "Spearman ρ (judge vs clinician mean)", "#2f7fc1"),
              ("alpha_clinicians", "alpha_clinicians_ci", "α clinicians", "#6b7b8c"),
              ("alpha_with_judge", "alpha_with_judge_ci", "α clinicians + judge", "#d2691e"))
    for key, ci, name, colour in series:
        values = [r[key] for r in rows]
        fig.add_scatter(x=values, y=dims, mode="markers", name=name, marker={"color": colour, "size": 10},
                        error_x={"type": "data", "symmetric": False,
                                 "array": [(r[f"{ci}_high"] - r[key]) if r[key] is not None and r[f"{ci}_high"]
                                           is not None else 0 for r in rows],
                                 "arrayminus": [(r[key] - r[f"{ci}_low"]) if r[key] is not None and r[f"{ci}_low"]
                                                is not None else 0 for r in rows]})
    figure_layout(fig, "Judge-clinician concordance (95% CIs, cluster bootstrap over cases)", scattermode="group",
            xaxis={"title": "coefficient", "range": [-1, 1.05], "zeroline": True}, yaxis={"autorange": "reversed"},
            height=max(300, 120 + 70 * len(dims)))
    return fig, rows


FIGURES: dict[str, tuple[str, FigureBuilder]] = {
    "means": ("Judge and clinicians per arm", means_judge_vs_clinicians),
    "density": ("Judge score densities per arm", density_per_arm),
    "concordance": ("Judge-clinician concordance", concordance_figure),
    "scatter": ("Judge against clinicians", judge_vs_clinicians_scatter),
}


def figure_json(analysis: dict) -> dict[str, dict]:
    """Each figure as plotly JSON (a dict), for the page's plotly.js."""
    out = {}
    for key, (title, builder) in FIGURES.items():
        fig, _ = builder(analysis)
        out[key] = {"title": title, "figure": json.loads(fig.to_json())}
    return out


def figure_rows(analysis: dict, key: str) -> list[dict]:
    return FIGURES[key][1](analysis)[1]

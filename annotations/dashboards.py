"""Plotly figures of a stored study analysis, and the data behind each as rows (CSV).

Built from ``StudyAnalysis.result`` only: rendering a dashboard never recomputes
statistics."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go

ARM_COLOURS = ["#6b7b8c", "#2f7fc1", "#d2691e", "#2e8b57", "#8e44ad", "#c0392b"]
FigureBuilder = Callable[[dict], tuple[go.Figure, list[dict]]]


def arm_colour(arms: list[str], arm: str) -> str:
    """The colour ``arm`` is drawn in on every figure: its place among the study's ``arms``."""
    return ARM_COLOURS[arms.index(arm) % len(ARM_COLOURS)] if arm in arms else "#999999"


def figure_layout(fig: go.Figure, title: str, **kwargs) -> go.Figure:
    """The layout every dashboard figure shares (the study's and the judge's), with its title."""
    layout = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
              "legend": {"orientation": "h", "y": -0.15}, "height": 420, **kwargs}
    fig.update_layout(title=title, **layout)
    return fig


def _likert_keys(result: dict) -> list[str]:
    return [d["key"] for d in result["meta"]["dimensions"] if d.get("scale") == "likert"]


def means_with_ci(result: dict) -> tuple[go.Figure, list[dict]]:
    arms = result["meta"]["arms"]
    dims = _likert_keys(result)
    rows = [r for r in result["descriptives"]["records"] if r["scope"] == "overall" and r["dimension"] in dims]
    fig = go.Figure()
    for arm in arms:
        mine = [next((r for r in rows if r["arm"] == arm and r["dimension"] == d), None) for d in dims]
        means = [r["mean"] if r else None for r in mine]
        fig.add_bar(name=arm, x=dims, y=means, marker_color=arm_colour(arms, arm),
                    error_y={"type": "data", "symmetric": False,
                             "array": [(r["mean_ci"][1] - r["mean"]) if r and r["mean_ci"][1] is not None else 0
                                       for r in mine],
                             "arrayminus": [(r["mean"] - r["mean_ci"][0]) if r and r["mean_ci"][0] is not None else 0
                                            for r in mine]})
    figure_layout(fig, "Mean rating per arm (95% CI, cluster bootstrap over cases)", barmode="group",
            yaxis={"range": [1, 5.2], "title": "mean (1-5)"})
    data = [{"arm": r["arm"], "dimension": r["dimension"], "n": r["n"], "n_cases": r["n_cases"], "mean": r["mean"],
             "ci_low": r["mean_ci"][0], "ci_high": r["mean_ci"][1], "median": r["median"], "sd": r["sd"]}
            for r in rows]
    return fig, data


def _score_levels(levels: list) -> list:
    """Score levels as the axis shows them: whole numbers as integers (1, not 1.0)."""
    return [int(v) if float(v).is_integer() else v for v in levels]


def distribution_per_arm(result: dict) -> tuple[go.Figure, list[dict]]:
    """Share of each score per arm, one dimension at a time, as grouped bars: the scores
    are a few discrete levels (1 to 5), so a smoothed curve between them would show
    values nobody could give (the paper's Fig. 2 draws densities per method)."""
    arms = result["meta"]["arms"]
    dims = _likert_keys(result)
    rows = [r for r in result["descriptives"]["records"] if r["scope"] == "overall" and r["dimension"] in dims]
    fig = go.Figure()
    data: list[dict] = []
    trace_dims: list[str] = []
    for dim in dims:
        for r in (x for x in rows if x["dimension"] == dim):
            total = sum(r["counts"]) or 1
            levels = _score_levels(r["levels"])
            fig.add_bar(x=levels, y=[c / total for c in r["counts"]], name=r["arm"], customdata=r["counts"],
                        visible=dim == dims[0], marker_color=arm_colour(arms, r["arm"]),
                        hovertemplate=f"{r['arm']}: %{{y:.0%}} scored %{{x}} (%{{customdata}} of {sum(r['counts'])})"
                                      "<extra></extra>")
            trace_dims.append(dim)
            data += [{"dimension": dim, "arm": r["arm"], "score": level, "count": count, "share": count / total}
                     for level, count in zip(levels, r["counts"])]
    menu = [{"label": dim, "method": "update", "args": [{"visible": [d == dim for d in trace_dims]}]}
            for dim in dims]
    figure_layout(fig, "Score distribution per arm", barmode="group", xaxis={"title": "score", "dtick": 1},
            yaxis={"title": "share of ratings", "tickformat": ".0%"},
            updatemenus=[{"buttons": menu, "direction": "down", "x": 1, "xanchor": "right", "y": 1.15}])
    return fig, data


def radar_per_task(result: dict) -> tuple[go.Figure, list[dict]]:
    """Mean of a dimension per task, per arm (the paper's Fig. 5 is a radar per task)."""
    arms = result["meta"]["arms"]
    dims = _likert_keys(result)
    dim = "proactivity" if "proactivity" in dims else (dims[0] if dims else None)
    rows = [r for r in result["descriptives"]["records"] if r["scope"] == "task" and r["dimension"] == dim]
    tasks = sorted({r["group"] for r in rows})
    fig = go.Figure()
    for arm in arms:
        values = [next((r["mean"] for r in rows if r["arm"] == arm and r["group"] == t), None) for t in tasks]
        if tasks:
            fig.add_scatterpolar(r=[*values, values[0]], theta=[*tasks, tasks[0]], name=arm, fill="toself",
                                 opacity=0.55, line={"color": arm_colour(arms, arm)})
    figure_layout(fig, f"{dim} per task", polar={"radialaxis": {"range": [1, 5]}}, height=480)
    data = [{"task": r["group"], "arm": r["arm"], "dimension": dim, "mean": r["mean"], "n": r["n"],
             "ci_low": r["mean_ci"][0], "ci_high": r["mean_ci"][1]} for r in rows]
    return fig, data


def win_rate_matrix(result: dict) -> tuple[go.Figure, list[dict]]:
    matrix = result["preferences"]["win_matrix"]
    arms = matrix["arms"]
    fig = go.Figure(go.Heatmap(z=matrix["score"], x=arms, y=arms, zmin=0, zmax=1, colorscale="RdBu",
                               text=[[f"{v:.0%}" if v is not None else "" for v in row] for row in matrix["score"]],
                               texttemplate="%{text}", hovertemplate="%{y} beats %{x}: %{z:.1%}<extra></extra>"))
    figure_layout(fig, "Win rate of the row arm over the column arm (ties count half)",
            xaxis={"title": "opponent"}, yaxis={"title": "arm", "autorange": "reversed"})
    data = [{"arm": a, "opponent": b, "win_rate": matrix["score"][i][j], "n": matrix["n"][i][j]}
            for i, a in enumerate(arms) for j, b in enumerate(arms) if i != j]
    return fig, data


def rater_progress(result: dict) -> tuple[go.Figure, list[dict]]:
    per_rater = result.get("progress", {}).get("per_rater", [])
    names = [r["rater__username"] for r in per_rater]
    fig = go.Figure()
    fig.add_bar(name="submitted", x=names, y=[r["submitted"] for r in per_rater], marker_color="#2e8b57")
    fig.add_bar(name="open", x=names, y=[r["assigned"] - r["submitted"] for r in per_rater], marker_color="#c8d3de")
    figure_layout(fig, "Rater progress", barmode="stack", yaxis={"title": "assignments"})
    data = [{"rater": r["rater__username"], "assigned": r["assigned"], "submitted": r["submitted"]} for r in per_rater]
    return fig, data


FIGURES: dict[str, tuple[str, FigureBuilder]] = {
    "means": ("Means with 95% CIs", means_with_ci),
    "distribution": ("Distributions per arm", distribution_per_arm),
    "radar": ("Per task", radar_per_task),
    "wins": ("Win-rate matrix", win_rate_matrix),
    "raters": ("Rater progress", rater_progress),
}


def reading_agreement_rows(result: dict) -> list[dict]:
    """The automatic reading against the clinicians' intervention answers (and the harm
    flags), one row per reading and arm, then each reading's overall."""
    from annotations.analysis.reading_agreement import agreement_rows

    return agreement_rows(result.get("reading_agreement"))


STYLE_LABELS = {"length": "Length", "headers": "Markdown headers", "list_items": "List items", "bold": "Bold spans"}


def _ranks(scores: list | None) -> list:
    """1 for the highest score, equal scores sharing a rank; None where there is no score."""
    scores = scores or []
    known = [v for v in scores if v is not None]
    return [None if v is None else 1 + sum(other > v for other in known) for v in scores]


def leaderboard_rows(result: dict) -> list[dict]:
    """Each arm on both Bradley-Terry leaderboards, plain and style-controlled: log-strength,
    its 95% CI and rank, and the arm's mean response length. A fit that did not converge
    shows no scores (its estimates mean nothing; the warnings say why)."""
    plain = result["preferences"]["bradley_terry"]
    styled = result["preferences"].get("style_controlled") or {}
    styled = styled if styled.get("available") else {}
    arms = plain["arms"]
    none = [None] * len(arms)
    boards = {}
    for key, fit in (("plain", plain), ("style", styled)):
        scores = (fit.get("log_strength") if fit.get("converged") else None) or none
        cis = fit.get("log_strength_ci") or [[None, None]] * len(arms)
        boards[key] = (scores, cis, _ranks(scores))
    lengths = styled.get("mean_length") or none
    rows = []
    for i, arm in enumerate(arms):
        row = {"arm": arm}
        for key, (scores, cis, ranks) in boards.items():
            row.update({key: scores[i], f"{key}_ci_low": cis[i][0], f"{key}_ci_high": cis[i][1],
                        f"{key}_rank": ranks[i]})
        row.update({"mean_length": lengths[i], "length_unit": styled.get("length_unit")})
        rows.append(row)
    return rows


def style_coefficient_rows(result: dict) -> list[dict]:
    """The style-controlled fit's coefficients: log-odds of winning per SD of each
    feature's normalised difference, with 95% CIs (features that never differed left out)."""
    styled = result["preferences"].get("style_controlled") or {}
    if not styled.get("converged"):
        return []
    return [{"feature": s["feature"], "label": STYLE_LABELS.get(s["feature"], s["feature"]),
             "coefficient": s["coefficient"], "ci_low": s["ci"][0], "ci_high": s["ci"][1]}
            for s in styled.get("style", []) if s["coefficient"] is not None]


# Tables whose rows download as CSV beside the figures' (``<key>.csv`` on the dashboard).
TABLES: dict[str, Callable[[dict], list[dict]]] = {"reading-agreement": reading_agreement_rows,
                                                   "leaderboards": leaderboard_rows,
                                                   "style-coefficients": style_coefficient_rows}


def figure_json(result: dict) -> dict[str, dict]:
    """Each figure as plotly JSON (a dict), for the page's plotly.js."""
    import json

    out = {}
    for key, (title, builder) in FIGURES.items():
        fig, _ = builder(result)
        out[key] = {"title": title, "figure": json.loads(fig.to_json())}
    return out


def figure_rows(result: dict, key: str) -> list[dict]:
    """The rows behind a figure, or a table of :data:`TABLES`."""
    return TABLES[key](result) if key in TABLES else FIGURES[key][1](result)[1]

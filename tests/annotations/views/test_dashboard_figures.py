"""The dashboard's score distributions are bars over the scores a rater can give, and its
position-bias audit prints each slot's share beside the share expected without a bias."""

import json
import re

import pytest

from annotations.dashboards import distribution_per_arm
from annotations.services.aggregation import study_aggregate


def _result(levels=(1.0, 2.0, 3.0, 4.0, 5.0)):
    def record(arm, dim, counts):
        return {"scope": "overall", "group": "overall", "arm": arm, "dimension": dim, "levels": list(levels),
                "counts": counts}
    return {"meta": {"arms": ["Baseline", "BehaviorSFT"],
                     "dimensions": [{"key": "realism", "scale": "likert"}, {"key": "safety", "scale": "likert"},
                                    {"key": "intervention", "scale": "categorical"}]},
            "descriptives": {"records": [record("Baseline", "realism", [1, 3, 4, 2, 0]),
                                         record("BehaviorSFT", "realism", [0, 0, 2, 3, 5]),
                                         record("Baseline", "safety", [0, 0, 0, 0, 4]),
                                         record("BehaviorSFT", "safety", [0, 0, 0, 1, 3])]}}


def test_score_distributions_are_grouped_bars_at_the_scores_given():
    fig, rows = distribution_per_arm(_result())
    traces = fig.to_dict()["data"]
    assert [t["type"] for t in traces] == ["bar"] * 4
    assert all(list(t["x"]) == [1, 2, 3, 4, 5] for t in traces)
    assert fig.layout.barmode == "group"
    realism = {t["name"]: list(t["y"]) for t in traces[:2]}
    assert realism["Baseline"] == [0.1, 0.3, 0.4, 0.2, 0.0] and realism["BehaviorSFT"] == [0.0, 0.0, 0.2, 0.3, 0.5]
    assert [t["visible"] for t in traces] == [True, True, False, False]  # one dimension at a time
    assert {"dimension": "safety", "arm": "BehaviorSFT", "score": 4, "count": 1, "share": 0.25} in rows


@pytest.mark.django_db
def test_the_position_bias_line_prints_the_expected_share(rated_submissions, researcher_client):
    analysis = study_aggregate(study=rated_submissions, n_boot=50)
    (record,) = analysis.result["position_bias"]["first_choice"]
    html = researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/").content.decode()
    line = re.search(r'<p class="first-choice">(.*?)</p>', html).group(1)
    shares = " · ".join(f"{letter} {round(100 * s)}%" for letter, s in zip("ABC", record["shares"]))
    assert line == (f"Ranked first by slot ({record['n_rankings']} rankings of 3 responses): {shares} "
                    f"(expected 33% each; p={record['p_value']:.3f})")
    figures = json.loads(html.split('id="figure-data" type="application/json">')[1].split("</script>")[0])
    assert {t["type"] for t in figures["distribution"]["data"]} == {"bar"}

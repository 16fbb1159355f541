import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit

from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.preferences import (
    bradley_terry,
    comparison_cells,
    fit_bradley_terry,
    pairwise_outcomes,
    ranking_comparisons,
)

LOG3 = np.log(3.0)


def _rankings():
    # Assignment 10 (case 1): slots A, B, C hold arms a, b, c, ranked 2, 1, 2 (a and c tie).
    # Assignment 11 (case 2): slots A, B hold arms c, a, ranked 1, 2. Rows shuffled.
    return pd.DataFrame({
        "assignment_id": [11, 10, 10, 11, 10],
        "case_id": [2, 1, 1, 2, 1],
        "arm": ["a", "c", "b", "c", "a"],
        "slot": [1, 2, 1, 0, 0],
        "rank": [2, 2, 1, 1, 2],
    })


def test_ranking_comparisons_by_hand():
    comp = ranking_comparisons(_rankings(), ["a", "b", "c"])
    got = sorted(zip(comp.first.tolist(), comp.second.tolist(), comp.outcome.tolist()))
    # (first, second, outcome of first): a<b lost, a~c tie, b>c won, c>a won.
    assert got == [(0, 1, 0.0), (0, 2, 0.5), (1, 2, 1.0), (2, 0, 1.0)]
    assert comp.n_rankings == 2 and len(comp) == 4


def test_pairwise_outcomes_and_win_matrix_by_hand():
    out = pairwise_outcomes(ranking_comparisons(_rankings(), ["a", "b", "c"]))
    pairs = {(p["arm_a"], p["arm_b"]): p for p in out["pairs"]}
    ab, ac, bc = pairs[("a", "b")], pairs[("a", "c")], pairs[("b", "c")]
    assert (ab["wins_a"], ab["ties"], ab["wins_b"], ab["n"]) == (0, 0, 1, 1)
    assert (ac["wins_a"], ac["ties"], ac["wins_b"], ac["n"]) == (0, 1, 1, 2)
    assert (bc["wins_a"], bc["ties"], bc["wins_b"]) == (1, 0, 0)
    assert ac["score_a"] == pytest.approx(0.25) and ac["win_rate_b"] == 0.5
    assert ac["win_rate_a_decided"] == 0.0 and ab["win_rate_a_decided_ci"][1] < 1
    score = np.array(out["win_matrix"]["score"], dtype=float)
    assert score[0, 2] == pytest.approx(0.25) and score[2, 0] == pytest.approx(0.75)
    assert np.isnan(score[1, 1])
    assert out["win_matrix"]["n"][0][2] == 2


def _cells(a_first_n, a_first_wins, b_first_n, b_first_wins):
    n = np.array([[0.0, a_first_n], [b_first_n, 0.0]])
    w = np.array([[0.0, a_first_wins], [b_first_wins, 0.0]])
    return n, w


def test_bradley_terry_two_arms_by_hand():
    # A beats B 3 of 4 times whichever is shown first: no position effect,
    # beta_A - beta_B = log 3, centred: +-log(3)/2.
    fit = fit_bradley_terry(*_cells(4, 3, 4, 1))
    np.testing.assert_allclose(fit["beta"], [LOG3 / 2, -LOG3 / 2], atol=1e-9)
    assert abs(fit["gamma"]) < 1e-9 and fit["converged"]
    # The earlier slot wins 3/4 when A is first and 2/4 when B is first:
    # d + g = log 3 and -d + g = 0, so d = g = log(3) / 2.
    fit = fit_bradley_terry(*_cells(4, 3, 4, 2))
    np.testing.assert_allclose(fit["beta"], [LOG3 / 4, -LOG3 / 4], atol=1e-9)
    assert fit["gamma"] == pytest.approx(LOG3 / 2, abs=1e-9)
    # Ties count half: 2 wins + 2 ties of 4 is 3 wins of 4.
    fit_ties = fit_bradley_terry(*_cells(4, 2 + 0.5 * 2, 4, 2))
    np.testing.assert_allclose(fit_ties["beta"], fit["beta"], atol=1e-9)
    # Without the position term, A first 3/4 and B first 2/4 pool to A winning 5 of 8.
    fit = fit_bradley_terry(*_cells(4, 3, 4, 2), position=False)
    assert fit["beta"][0] - fit["beta"][1] == pytest.approx(np.log(5 / 3), abs=1e-9) and fit["gamma"] == 0


def test_bradley_terry_equals_statsmodels_logistic_glm():
    rng = np.random.default_rng(0)
    k = 4
    n = rng.integers(5, 40, size=(k, k)).astype(float)
    np.fill_diagonal(n, 0)
    w = np.floor(rng.uniform(0.1, 0.9, size=(k, k)) * n * 2) / 2  # half wins: ties
    fit = fit_bradley_terry(n, w)
    rows, y, weights = [], [], []
    for f in range(k):
        for s in range(k):
            if f != s:
                x = np.zeros(k)
                x[f], x[s] = 1.0, -1.0
                rows.append(np.append(x[:-1], 1.0))
                y.append(w[f, s] / n[f, s])
                weights.append(n[f, s])
    glm = sm.GLM(np.array(y), np.array(rows), family=sm.families.Binomial(), var_weights=np.array(weights)).fit(
        tol=1e-14)
    beta = np.append(glm.params[:-1], 0.0)
    np.testing.assert_allclose(fit["beta"], beta - beta.mean(), atol=1e-8)
    assert fit["gamma"] == pytest.approx(glm.params[-1], abs=1e-8)
    assert fit["beta"].sum() == pytest.approx(0.0, abs=1e-12)


def test_batched_fit_equals_one_at_a_time():
    rng = np.random.default_rng(1)
    n = rng.integers(3, 20, size=(6, 3, 3)).astype(float)
    w = np.round(rng.uniform(0.2, 0.8, size=n.shape) * n)
    batched = fit_bradley_terry(n, w)
    for b in range(6):
        single = fit_bradley_terry(n[b], w[b])
        np.testing.assert_allclose(batched["beta"][b], single["beta"], atol=1e-9)
        assert batched["gamma"][b] == pytest.approx(single["gamma"], abs=1e-9)
    assert batched["converged"].all()


def test_separation_is_reported_not_hidden():
    # A wins every comparison: the likelihood rises without end as A's strength grows.
    fit = fit_bradley_terry(*_cells(5, 5, 5, 0))
    assert not fit["converged"] and fit["beta"][0] - fit["beta"][1] > 5
    # Quasi-complete: with the position term, A first always wins and B first is mixed.
    assert not fit_bradley_terry(*_cells(5, 5, 5, 2))["converged"]
    assert fit_bradley_terry(*_cells(5, 4, 5, 2))["converged"]


def _simulate_pairs(beta, gamma, n_assign, seed):
    rng = np.random.default_rng(seed)
    k = len(beta)
    first = rng.integers(0, k, n_assign)
    second = (first + rng.integers(1, k, n_assign)) % k
    first_wins = rng.random(n_assign) < expit(beta[first] - beta[second] + gamma)
    rank_first = np.where(first_wins, 1, 2)
    ids = np.arange(n_assign)
    return pd.DataFrame({
        "assignment_id": np.repeat(ids, 2), "case_id": np.repeat(ids // 2, 2),
        "arm": np.column_stack([first, second]).ravel(), "slot": np.tile([0, 1], n_assign),
        "rank": np.column_stack([rank_first, 3 - rank_first]).ravel(),
    })


def test_recovers_known_strengths_and_position_effect_from_simulation():
    beta = np.array([-0.6, -0.1, 0.2, 0.5])
    gamma = 0.3
    prefs = _simulate_pairs(beta, gamma, 40_000, seed=7)
    result = bradley_terry(prefs, arms=[0, 1, 2, 3], n_boot=200, seed=1)
    np.testing.assert_allclose(result["log_strength"], beta, atol=0.05)
    assert result["position_log_odds"] == pytest.approx(gamma, abs=0.04)
    assert result["p_earlier_wins"] == pytest.approx(expit(gamma), abs=0.01)
    ci = np.array(result["log_strength_ci"])
    assert np.all(ci[:, 0] < beta) and np.all(beta < ci[:, 1])
    assert result["position_log_odds_ci"][0] < gamma < result["position_log_odds_ci"][1]
    assert np.all(ci[:, 1] - ci[:, 0] < 0.15)
    assert result["n_boot_converged"] == 200 and result["converged"]


def test_plackett_luce_rankings_of_three_recover_strengths_and_no_position_effect():
    # Under Plackett-Luce, P(i ranked above j) = pi_i / (pi_i + pi_j): the pairs derived
    # from full rankings follow Bradley-Terry with the same strengths.
    rng = np.random.default_rng(3)
    beta = np.array([-0.5, 0.0, 0.5])
    n_assign = 15_000
    order = np.argsort(rng.random((n_assign, 3)), axis=1)  # order[i, s] = arm in slot s
    gumbel = beta[order] + rng.gumbel(size=(n_assign, 3))
    rank = 1 + np.argsort(np.argsort(-gumbel, axis=1), axis=1)
    prefs = pd.DataFrame({"assignment_id": np.repeat(np.arange(n_assign), 3),
                          "case_id": np.repeat(np.arange(n_assign) // 3, 3), "arm": order.ravel(),
                          "slot": np.tile([0, 1, 2], n_assign), "rank": rank.ravel()})
    result = bradley_terry(prefs, arms=[0, 1, 2], n_boot=0)
    np.testing.assert_allclose(result["log_strength"], beta, atol=0.04)
    assert abs(result["position_log_odds"]) < 0.04


def test_bootstrap_uses_per_case_cells():
    comp = ranking_comparisons(_rankings(), ["a", "b", "c"], CaseBootstrap.draw([1, 2], n_boot=5))
    n_case, w_case = comparison_cells(comp, 2)
    n_all, w_all = comparison_cells(comp)
    np.testing.assert_array_equal(n_case.sum(axis=0), n_all)
    np.testing.assert_array_equal(w_case.sum(axis=0), w_all)
    assert n_case[0].sum() == 3 and n_case[1].sum() == 1


def test_empty_preferences():
    result = bradley_terry(pd.DataFrame(columns=["assignment_id", "case_id", "arm", "slot", "rank"]),
                           arms=["a", "b"], n_boot=10)
    assert result["n_comparisons"] == 0 and result["log_strength"] == [None, None]


def test_fit_equals_the_former_newton_solver_on_fixed_inputs():
    """bt_reference.json holds what the hand-written Newton-Raphson solver gave (every fit
    converged there) before scipy's optimiser replaced it: the same maximum, resample by
    resample, so the same estimates and intervals."""
    import json
    from pathlib import Path

    from bench.synthetic_study import synthetic_study

    reference = json.loads((Path(__file__).parent / "bt_reference.json").read_text())
    for name in ("synthetic_60_seed3", "synthetic_40_seed5_4arms"):
        ref = reference[name]
        inputs = {k: np.array(v) if k in ("arm_means", "intervention_probs") else v for k, v in ref["inputs"].items()}
        result = bradley_terry(synthetic_study(**inputs)["preferences"], n_boot=200, seed=1)
        assert result["converged"] and result["n_boot_converged"] == ref["n_boot_converged"] == 200
        for key in ("log_strength", "strength", "log_strength_ci", "strength_ci", "position_log_odds",
                    "position_log_odds_ci", "p_earlier_wins"):
            np.testing.assert_allclose(result[key], ref[key], rtol=1e-6, atol=0, err_msg=f"{name}: {key}")
    cells = reference["cells_4arms_seed0"]
    fit = fit_bradley_terry(np.array(cells["n"]), np.array(cells["w"]))
    np.testing.assert_allclose(fit["beta"], cells["beta"], rtol=1e-6, atol=0)
    assert fit["gamma"] == pytest.approx(cells["gamma"], rel=1e-6)

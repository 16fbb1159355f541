"""Style-controlled Bradley-Terry: raters who prefer longer answers make a longer arm
look stronger in the plain fit; with the style covariates its lead goes to the length
coefficient, and known strengths come back when style is independent of the arm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.preferences import bradley_terry, ranking_comparisons
from annotations.analysis.style_control import style_controlled_bradley_terry, style_counts
from annotations.analysis.summary import summarize_study


def _pairs(arm_beta, arm_length, length_effect, n_screens, seed, *, tokens=True):
    """Screens of two responses (arms drawn at random, slot order random); each response
    has a length around its arm's (log-normal) and the earlier wins with
    ``expit(beta_a - beta_b + length_effect * (l_a - l_b) / (l_a + l_b) / 0.2)``."""
    rng = np.random.default_rng(seed)
    k = len(arm_beta)
    first = rng.integers(0, k, n_screens)
    second = (first + rng.integers(1, k, n_screens)) % k
    la = np.asarray(arm_length)[first] * rng.lognormal(0, 0.4, n_screens)
    lb = np.asarray(arm_length)[second] * rng.lognormal(0, 0.4, n_screens)
    beta = np.asarray(arm_beta)
    eta = beta[first] - beta[second] + length_effect * (la - lb) / (la + lb) / 0.2
    first_wins = rng.random(n_screens) < expit(eta)
    rank_first = np.where(first_wins, 1, 2)
    ids = np.arange(n_screens)
    length = np.rint(np.column_stack([la, lb]).ravel())
    return pd.DataFrame({
        "assignment_id": np.repeat(ids, 2), "case_id": np.repeat(ids // 2, 2), "rater_id": 1,
        "arm": np.array([f"arm{i}" for i in range(k)])[np.column_stack([first, second]).ravel()],
        "slot": np.tile([0, 1], n_screens), "rank": np.column_stack([rank_first, 3 - rank_first]).ravel(),
        "completion_tokens": length if tokens else None, "words": np.rint(length * 0.75),
        "headers": 0, "list_items": 0, "bold": 0,
    })


def _fit(prefs, n_boot=200, seed=1):
    arms = sorted(prefs["arm"].unique())
    boot = CaseBootstrap.draw(prefs["case_id"], n_boot=n_boot, seed=seed)
    comparisons = ranking_comparisons(prefs, arms, boot)
    return (bradley_terry(comparisons, bootstrap=boot),
            style_controlled_bradley_terry(prefs, comparisons, bootstrap=boot))


@pytest.fixture(scope="module")
def length_only():
    # Equal arms; arm2 writes three times as long as arm0; raters favour the longer answer.
    return _fit(_pairs([0.0, 0.0, 0.0], [100, 180, 300], 0.5, 6000, seed=3))


def test_plain_fit_ranks_the_long_arm_first_when_raters_prefer_length(length_only):
    plain, _ = length_only
    assert int(np.argmax(plain["log_strength"])) == 2 and int(np.argmin(plain["log_strength"])) == 0
    low, _ = plain["log_strength_ci"][2]
    assert low > 0  # the plain fit is sure the long arm is better


def test_style_control_finds_no_difference_between_arms_and_a_positive_length_effect(length_only):
    _, styled = length_only
    assert styled["available"] and styled["converged"] and styled["length_unit"] == "tokens"
    for low, high in styled["log_strength_ci"]:
        assert low < 0 < high
    length = styled["style"][0]
    assert length["feature"] == "length" and length["ci"][0] > 0
    # The generating effect is 0.5 per 0.2 of the normalised difference; the fit reports
    # it per SD of that difference.
    assert length["coefficient"] / length["sd_of_difference"] * 0.2 == pytest.approx(0.5, abs=0.1)
    # A feature that never differs has no coefficient rather than a made-up one.
    assert styled["style"][1] == {"feature": "headers", "coefficient": None, "ci": [None, None],
                                  "sd_of_difference": None}
    assert styled["mean_length"][2] > 2 * styled["mean_length"][0]


def test_recovers_known_strengths_when_style_is_independent_of_the_arm():
    beta = np.array([-0.5, 0.1, 0.4])
    prefs = _pairs(beta, [200, 200, 200], 0.3, 20_000, seed=5)
    plain, styled = _fit(prefs, n_boot=100)
    np.testing.assert_allclose(styled["log_strength"], beta - beta.mean(), atol=0.06)
    for (low, high), value in zip(styled["log_strength_ci"], beta - beta.mean()):
        assert low < value < high
    # Style independent of the arm: the plain fit is (nearly) the same, only noisier.
    np.testing.assert_allclose(plain["log_strength"], styled["log_strength"], atol=0.05)
    length = styled["style"][0]
    assert length["coefficient"] / length["sd_of_difference"] * 0.2 == pytest.approx(0.3, abs=0.08)
    assert abs(styled["position_log_odds"]) < 0.06


def test_words_stand_in_for_tokens_when_a_response_has_no_token_count():
    prefs = _pairs([0.0, 0.0], [100, 300], 0.5, 400, seed=2)
    prefs.loc[3, "completion_tokens"] = None
    _, styled = _fit(prefs, n_boot=20)
    assert styled["length_unit"] == "words"
    assert styled["mean_length"][0] == pytest.approx(prefs.loc[prefs["arm"] == "arm0", "words"].mean())


def test_frames_without_style_say_so():
    prefs = _pairs([0.0, 0.0], [100, 300], 0.5, 50, seed=2).drop(columns=["bold"])
    _, styled = _fit(prefs, n_boot=10)
    assert not styled["available"] and "style" in styled["note"]


def test_style_counts_reads_markdown_as_shown():
    text = ("# Plan\n\nCheck the **potassium** and __creatinine__.\n\n- stop the ACE inhibitor\n"
            "* recheck in 24 h\n  1. call the team\n2) document\n\n#hashtag is not a header\n"
            "a ** b ** is not bold")
    words, headers, items, bold = style_counts(text)
    assert (headers, items, bold) == (1, 4, 2)
    assert words == len(text.split())
    assert style_counts("") == (0, 0, 0, 0)


def test_the_study_analysis_stores_both_leaderboards():
    prefs = _pairs([0.0, 0.3], [100, 300], 0.5, 300, seed=8)
    result = summarize_study(None, None, prefs, [], n_boot=50, seed=1)
    styled = result["preferences"]["style_controlled"]
    assert styled["available"] and styled["arms"] == result["preferences"]["bradley_terry"]["arms"]
    assert len(styled["log_strength_ci"]) == 2 and styled["n_boot"] == 50


def test_a_preference_length_alone_decides_is_reported_not_hidden():
    # The longer answer always wins, whichever arm wrote it: the arms alone are not
    # separated, but with length in the model the likelihood rises without end.
    prefs = _pairs([0.0, 0.0, 0.0], [150, 150, 150], 0.0, 300, seed=9)
    longer_first = prefs["completion_tokens"].to_numpy()[0::2] > prefs["completion_tokens"].to_numpy()[1::2]
    prefs["rank"] = np.column_stack([np.where(longer_first, 1, 2), np.where(longer_first, 2, 1)]).ravel()
    plain, styled = _fit(prefs, n_boot=20)
    assert plain["converged"]
    assert not styled["converged"] and "no intervals" in styled["note"]
    assert styled["log_strength_ci"] == [[None, None]] * 3

"""The dashboard's two Bradley-Terry leaderboards, plain and style-controlled, from the
responses' stored token counts and the Markdown the raters saw."""

import csv
import io
import re

import pytest

from annotations.models import Response
from annotations.services.aggregation import study_aggregate

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

TOKENS = {"BehaviorSFT": 40, "GeneralSFT": 120, "Baseline": 300}


@pytest.fixture(autouse=True)
def factories_from_the_start():
    """The factories' sequences from their start (autouse: before the study fixtures), so
    the study, and the rankings drawn on it below, are the same whatever ran before."""
    from tests import factories

    for factory_class in (factories.UserFactory, factories.StudyFactory, factories.ModelArmFactory,
                          factories.StudyArmFactory, factories.CaseFactory, factories.ResponseFactory):
        factory_class.reset_sequence()


def _styled(study):
    """Each arm's responses around its length (longest: Baseline), Markdown on half the
    cases whatever the arm, and rankings redrawn so that the longer answer usually wins."""
    import random

    from annotations.models import Preference

    # By the case's place in the study, not its id: the same data whatever ran before.
    place = {case_id: n for n, case_id in enumerate(study.cases.order_by("id").values_list("id", flat=True))}
    for response in Response.objects.filter(case__study=study).select_related("arm"):
        response.completion_tokens = TOKENS[response.arm.name] + 10 * (place[response.case_id] % 7)
        response.text = ("## Plan\n- **stop** the drug\n- recheck" if place[response.case_id] % 2
                         else "Stop the drug and recheck.")
        response.save(update_fields=["completion_tokens", "text"])
    rng = random.Random(4)
    by_submission = {}
    for preference in (Preference.objects.filter(submission__assignment__study=study).select_related("response")
                       .order_by("submission_id", "slot")):
        by_submission.setdefault(preference.submission_id, []).append(preference)
    for preferences in by_submission.values():
        utility = {p.pk: p.response.completion_tokens / 100 + rng.gauss(0, 1.5) for p in preferences}
        for rank, preference in enumerate(sorted(preferences, key=lambda p: -utility[p.pk]), start=1):
            preference.rank = rank
        Preference.objects.bulk_update(preferences, ["rank"])
    return study


def test_dashboard_shows_both_leaderboards_with_lengths_and_style_coefficients(rated_submissions,
                                                                                 researcher_client):
    analysis = study_aggregate(study=_styled(rated_submissions), n_boot=50)
    styled = analysis.result["preferences"]["style_controlled"]
    assert styled["available"] and styled["length_unit"] == "tokens"
    mean_length = dict(zip(styled["arms"], styled["mean_length"]))
    assert 40 <= mean_length["BehaviorSFT"] <= 100 < 120 <= mean_length["GeneralSFT"] <= 180 < 300 <= mean_length["Baseline"] <= 360
    html = researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/").content.decode()
    section = html.split('id="leaderboards"')[1].split("</section>")[0]
    assert "Plain [95% CI]" in section and "Style-controlled [95% CI]" in section and "Mean length (tokens)" in section
    for arm in TOKENS:
        assert f'<th scope="row">{arm}</th>' in section
    assert "What style control means" in section and "Length counted in tokens" in section
    # The length effect's sign is the analysis tests' (tests/annotations/analysis/test_style_control.py):
    # here length and arm go nearly together, and the page only has to show it.
    assert "Style coefficients" in section and re.search(r"Length [+\-−]\d", section) and "per SD" in section
    rows = list(csv.DictReader(io.StringIO(researcher_client.get(
        f"/studies/{rated_submissions.slug}/dashboard/leaderboards.csv").content.decode())))
    plain = analysis.result["preferences"]["bradley_terry"]
    assert plain["converged"] and styled["converged"]
    # The longest arm wins most often: first on the plain leaderboard.
    longest = next(r for r in rows if r["arm"] == "Baseline")
    assert longest["plain_rank"] == "1" and longest["length_unit"] == "tokens"
    assert {r["style_rank"] for r in rows} == {"1", "2", "3"}


def test_words_stand_in_where_a_response_has_no_token_count(rated_submissions, researcher_client):
    _styled(rated_submissions)
    Response.objects.filter(case__study=rated_submissions, arm__name="GeneralSFT").update(completion_tokens=None)
    analysis = study_aggregate(study=rated_submissions, n_boot=20)
    styled = analysis.result["preferences"]["style_controlled"]
    assert styled["length_unit"] == "words"
    # "## Plan / - **stop** the drug / - recheck" is 8 words as shown, "Stop the drug and
    # recheck." 5: the arm's mean lies between.
    assert 5 < dict(zip(styled["arms"], styled["mean_length"]))["Baseline"] < 8
    html = researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/").content.decode()
    assert "Mean length (words)" in html and "not every response has a token count" in html


def test_the_page_says_when_the_leaderboards_disagree_and_the_api_carries_both(rated_submissions,
                                                                                 researcher_client):
    from annotations.models import StudyAnalysis

    analysis = study_aggregate(study=_styled(rated_submissions), n_boot=20)
    url = f"/studies/{rated_submissions.slug}/dashboard/"
    result = analysis.result
    plain = result["preferences"]["bradley_terry"]["log_strength"]
    styled = result["preferences"]["style_controlled"]
    # Two fits as the page gets them, whatever this draw's fits came to: what is checked is the page.
    result["preferences"]["bradley_terry"]["converged"] = styled["converged"] = styled["available"] = True
    styled["log_strength"] = list(plain)
    StudyAnalysis.objects.filter(pk=analysis.pk).update(result=result)
    assert 'id="leaderboards-disagree"' not in researcher_client.get(url).content.decode()
    styled["log_strength"] = [-v for v in plain]  # the style-controlled order reversed
    StudyAnalysis.objects.filter(pk=analysis.pk).update(result=result)
    assert 'id="leaderboards-disagree"' in researcher_client.get(url).content.decode()
    api = researcher_client.get(f"/api/studies/{rated_submissions.slug}/analysis/").json()
    assert api["result"]["preferences"]["style_controlled"]["log_strength"] == styled["log_strength"]
    assert api["result"]["preferences"]["bradley_terry"]["log_strength"] == plain


def test_style_the_arms_alone_decide_gives_no_style_controlled_scores(rated_submissions, researcher_client):
    _styled(rated_submissions)
    # Markdown in Baseline's answers only: its style and its arm are one and the same.
    Response.objects.filter(case__study=rated_submissions).exclude(arm__name="Baseline").update(text="Stop.")
    Response.objects.filter(case__study=rated_submissions, arm__name="Baseline").update(text="# Plan\n- stop")
    analysis = study_aggregate(study=rated_submissions, n_boot=20)
    styled = analysis.result["preferences"]["style_controlled"]
    assert styled["available"] and not styled["converged"] and "told apart" in styled["note"]
    assert styled["log_strength"] == [None, None, None]
    html = researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/").content.decode()
    assert "cannot be told apart from the arms" in html

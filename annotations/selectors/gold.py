"""Gold cases as the dashboard reads them: each rater's answers beside the expected ones."""

from __future__ import annotations

from collections import defaultdict

from annotations.analysis.gold import gold_agreement
from annotations.models import Case, Preference, Rating, Study
from annotations.rubric import CATEGORICAL, LIKERT


def study_gold_agreement(study: Study) -> list[dict]:
    """Per rater (by username), their agreement with the study's gold cases."""
    gold = {c.pk: c.expected or {} for c in study.cases.filter(role=Case.Role.GOLD)}
    if not gold:
        return []
    scales = {d["key"]: d["scale"] for d in study.rubric if d["scale"] in (LIKERT, CATEGORICAL)}
    current = {"submission__is_current": True, "submission__assignment__case_id__in": list(gold)}
    values = []
    for rater, case_id, response_id, key, score, choice in (
            Rating.objects.answered().filter(dimension__in=list(scales), **current)
            .values_list("submission__assignment__rater__username", "submission__assignment__case_id",
                         "response_id", "dimension", "score", "choice").iterator(chunk_size=5000)):
        want = (gold[case_id].get("ratings") or {}).get(str(response_id), {}).get(key)
        given = score if scales[key] == LIKERT else choice
        if want is None or given in (None, ""):
            continue
        values.append({"rater": rater, "case": case_id, "scale": scales[key], "given": given, "expected": want})
    ranks: dict[tuple, dict] = defaultdict(dict)
    for rater, case_id, response_id, rank in (
            Preference.objects.filter(**current).values_list("submission__assignment__rater__username",
                                                             "submission__assignment__case_id", "response_id", "rank")):
        ranks[(rater, case_id)][str(response_id)] = rank
    rankings = [{"rater": rater, "case": case_id, "given": given,
                 "expected": {k: int(v) for k, v in (gold[case_id].get("ranks") or {}).items()}}
                for (rater, case_id), given in ranks.items() if gold[case_id].get("ranks")]
    return gold_agreement(values, rankings)

"""``python -m modeling.judge``: judge a responses.jsonl file (scores per dimension;
with ``--pairwise``, position-swapped comparisons of the arms; with ``--planted``,
whether each response names its case's planted problem, which ``python -m
modeling.evaluate --planted-readings`` then reads), appending to a resumable
judged.jsonl, then print a summary.

A prompt whose request failed for good (longer than the judge's context, another 400)
is written with its ``error`` and no score; one that failed for now (timed out, a server
error) is not written, so running the command again asks only those; the command then
exits with status 1, saying how many."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from modeling.jsonl import read_resumable_jsonl
from modeling.judge.base import Judge, PairRequest, PlantedRequest, ScoreRequest
from modeling.judge.dimensions import OVERALL, resolve_dimensions
from modeling.judge.endpoint import OpenAIJudge
from modeling.judge.local import LocalJudge
from modeling.judge.scoring import swap_consistency
from modeling.params import EndpointParams
from modeling.planted import problem_description
from modeling.progress import tqdm_progress

log = logging.getLogger(__name__)


def summarize(rows: Iterable[Mapping]) -> dict:
    """Mean judge score per arm and dimension, pairwise consistency, and per arm how many
    responses the judge read as naming the planted problem, from the CLI's output rows.
    Consistency is over the decided pairs (:func:`~modeling.judge.scoring.swap_consistency`),
    as on the portal's judge page."""
    scores: dict[tuple[str, str], list[float]] = {}
    swaps: list[tuple[float | None, float | None]] = []
    planted: dict[str, dict[str, int]] = {}
    for row in rows:
        if row.get("type") == "planted":
            counts = planted.setdefault(row["arm"], {"n": 0, "named": 0, "undecided": 0})
            counts["n"] += 1
            counts["named"] += row.get("named") is True
            counts["undecided"] += row.get("named") is None
        elif row.get("type") == "pairwise":
            swaps.append((row.get("prob_a_first"), row.get("prob_a_second")))
        elif row.get("score") is not None:
            scores.setdefault((row["arm"], row["dimension"]), []).append(row["score"])
    means = [{"arm": arm, "dimension": dim, "n": len(v), "mean": sum(v) / len(v)}
             for (arm, dim), v in sorted(scores.items())]
    out = {"means": means}
    if swaps:
        consistency = swap_consistency(swaps)
        out["pairwise"] = {key: consistency[key] for key in ("n", "consistency", "first_position_rate")}
    if planted:
        out["planted"] = {arm: planted[arm] for arm in sorted(planted)}
    return out


def _append(out_file, batches: Iterable[list], row_of, provenance: dict) -> list:
    """Write each result as a row (``row_of(result)``'s identifying fields, then the
    result's own), flushed after each batch so a stopped run resumes where it was;
    returns the results whose request failed for now (not written: asked again next run)."""
    unanswered = []
    for batch in batches:
        for result in batch:
            if result.error and not result.error_lasting:
                log.warning("%s: %s", result.key, result.error)
                unanswered.append(result)
                continue
            row = {**row_of(result), **result.as_dict(), "provenance": provenance}
            row.pop("key")
            out_file.write(json.dumps(row, ensure_ascii=False) + "\n")
        out_file.flush()
    return unanswered


def judge_from_args(args: argparse.Namespace) -> Judge:
    """The judge the command line asks for: a remote one with ``--openai-model``, else
    our own model (``--base``, ``--adapter``)."""
    if args.openai_model:
        api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
        return OpenAIJudge(args.openai_model, args.base_url, api_key,
                           logprobs={"auto": "auto", "on": True, "off": False}[args.logprobs],
                           top_logprobs=args.top_logprobs, n_samples=args.samples, temperature=args.temperature,
                           concurrency=args.concurrency, timeout=args.timeout, max_retries=args.max_retries,
                           use_reference=args.use_reference)
    from modeling.loading import load_model

    loaded = load_model(args.base, args.adapter, device=args.device, dtype=args.dtype)
    return LocalJudge(loaded, token_budget=args.token_budget, use_reference=args.use_reference)


def parser_for() -> argparse.ArgumentParser:
    from modeling.task_types import TASKS_FILE_HELP

    summary_line = sys.modules[__package__].__doc__.split("\n")[0]  # modeling.judge's
    parser = argparse.ArgumentParser(prog="python -m modeling.judge", description=summary_line)
    parser.add_argument("--cases", required=True, help="cases.jsonl")
    parser.add_argument("--tasks", help=TASKS_FILE_HELP)
    parser.add_argument("--responses", required=True, help="responses.jsonl (python -m modeling.generate)")
    parser.add_argument("--out", required=True, help="judged.jsonl (appended to: finished scores are skipped)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--base", help="local judge: 'demo', a Hugging Face model directory or a .gguf file")
    who.add_argument("--openai-model", help="remote judge: the model name at an OpenAI-compatible endpoint")
    parser.add_argument("--adapter", help="local judge: a LoRA adapter directory")
    parser.add_argument("--device")
    parser.add_argument("--dtype")
    parser.add_argument("--token-budget", type=int)
    parser.add_argument("--base-url", help="remote judge: e.g. http://127.0.0.1:8000/v1 (default: OpenAI's)")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    parser.add_argument("--logprobs", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--top-logprobs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=10, help="samples averaged when there are no logprobs")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=EndpointParams.concurrency,
                        help="remote judge: requests in flight (a server that answers one at a time keeps the rest "
                             "waiting: give them the time in --timeout)")
    parser.add_argument("--timeout", type=float, default=EndpointParams.timeout_s,
                        help="remote judge: seconds one request may take, waiting at the server included")
    parser.add_argument("--max-retries", type=int, default=EndpointParams.max_retries,
                        help="remote judge: retries, with backoff, of a request that timed out, met a server error "
                             "or could not connect")
    parser.add_argument("--dimensions", help="comma-separated keys of the default dimensions (default: all six; "
                                             "'none' for no scores, e.g. with --planted)")
    parser.add_argument("--dimensions-file", help="a JSON list of dimensions (dimensions as data)")
    parser.add_argument("--use-reference", action="store_true", help="show the case's reference response")
    parser.add_argument("--pairwise", action="store_true", help="also compare the arms' responses pairwise, "
                                                                 "in both orders")
    parser.add_argument("--planted", action="store_true",
                        help="also ask whether each response to a case with a planted problem names it "
                             "(read by python -m modeling.evaluate --planted-readings)")
    parser.add_argument("--arms", help="comma-separated arms to judge (default: all in --responses)")
    parser.add_argument("--case-ids", help="comma-separated external_ids of the cases whose responses to judge "
                                           "(default: all in --responses)")
    parser.add_argument("--limit", type=int, help="only the first N responses")
    parser.add_argument("--overwrite", action="store_true", help="start the output file afresh")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from modeling.cases import read_cases
    from modeling.task_types import registry_from_file

    parser = parser_for()
    args = parser.parse_args(argv)
    try:
        registry = registry_from_file(args.tasks)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.dimensions_file:
        dimensions = resolve_dimensions(json.loads(Path(args.dimensions_file).read_text(encoding="utf-8")))
    elif args.dimensions == "none":
        dimensions = []
    elif args.dimensions:
        dimensions = resolve_dimensions([k.strip() for k in args.dimensions.split(",") if k.strip()])
    else:
        dimensions = resolve_dimensions()
    cases = {c["external_id"]: c for c in read_cases(args.cases, registry)}
    responses = read_resumable_jsonl(Path(args.responses))
    if args.arms:
        keep = {a.strip() for a in args.arms.split(",")}
        responses = [r for r in responses if r.get("arm") in keep]
    if args.case_ids:
        wanted = {i.strip() for i in args.case_ids.split(",") if i.strip()}
        responses = [r for r in responses if r["external_id"] in wanted]
    unknown = sorted({r["external_id"] for r in responses if r["external_id"] not in cases})
    if unknown:
        parser.error(f"responses to cases not in {args.cases}: {', '.join(unknown[:5])}")
    if args.limit:
        responses = responses[: args.limit]

    out = Path(args.out)
    if args.overwrite and out.exists():
        out.unlink()
    existing = read_resumable_jsonl(out)
    done = {(r["external_id"], r["arm"], r["dimension"]) for r in existing if r.get("type") == "score"}
    done_pairs = {(r["external_id"], r["arm_a"], r["arm_b"], r["dimension"]) for r in existing
                  if r.get("type") == "pairwise"}
    by_key = {f"{r['external_id']}|{r['arm']}": r for r in responses}
    requests = [ScoreRequest(key=f"{r['external_id']}|{r['arm']}", case=cases[r["external_id"]], response=r.get("text"),
                             dimension=d, reference=cases[r["external_id"]].get("reference_response"))
                for r in responses for d in dimensions if (r["external_id"], r["arm"], d.key) not in done]
    pair_requests = []
    if args.pairwise:
        per_case: dict[str, list[dict]] = {}
        for r in responses:
            per_case.setdefault(r["external_id"], []).append(r)
        for case_id, rows in per_case.items():
            rows = sorted(rows, key=lambda r: r["arm"])
            for i in range(len(rows)):
                for j in range(i + 1, len(rows)):
                    a, b = rows[i], rows[j]
                    if (case_id, a["arm"], b["arm"], OVERALL.key) not in done_pairs:
                        pair_requests.append(PairRequest(key=f"{case_id}|{a['arm']}|{b['arm']}", case=cases[case_id],
                                                         response_a=a.get("text"), response_b=b.get("text")))
    planted_requests = []
    if args.planted:
        done_planted = {(r["external_id"], r["arm"]) for r in existing if r.get("type") == "planted"}
        for r in responses:
            problem = problem_description(cases[r["external_id"]].get("planted_problem"))
            if problem and (r["external_id"], r["arm"]) not in done_planted:
                planted_requests.append(PlantedRequest(key=f"{r['external_id']}|{r['arm']}", case=cases[r["external_id"]],
                                                       response=r.get("text"), problem=problem))
    log.info("%d score(s), %d comparison(s) and %d planted-problem reading(s) to do (%d scores already in %s)",
             len(requests), len(pair_requests), len(planted_requests), len(done), out)
    if not requests and not pair_requests and not planted_requests:
        print(json.dumps(summarize(existing), indent=2))
        return 0
    judge = judge_from_args(args)
    provenance = judge.describe()
    started = time.perf_counter()

    def response_of(result) -> dict:
        response = by_key[result.key]
        return {"external_id": response["external_id"], "arm": response["arm"]}

    def pair_of(result) -> dict:
        case_id, arm_a, arm_b = result.key.split("|")
        return {"type": "pairwise", "external_id": case_id, "arm_a": arm_a, "arm_b": arm_b}

    with out.open("a", encoding="utf-8") as f:
        with tqdm_progress("judge", "prompt") as bar:
            unanswered = _append(f, judge.score_iter(requests, bar), lambda r: {"type": "score", **response_of(r)},
                                 provenance)
        with tqdm_progress("compare", "prompt") as bar:
            unanswered += _append(f, judge.compare_iter(pair_requests, bar), pair_of, provenance)
        with tqdm_progress("planted", "prompt") as bar:
            unanswered += _append(f, judge.planted_iter(planted_requests, bar),
                                  lambda r: {"type": "planted", **response_of(r)}, provenance)
    elapsed = time.perf_counter() - started
    print(f"judged {len(requests)} score(s), {len(pair_requests)} pair(s) and {len(planted_requests)} planted-problem "
          f"reading(s) in {elapsed:.1f} s; wrote {out}", file=sys.stderr)
    print(json.dumps(summarize(read_resumable_jsonl(out)), indent=2))
    if unanswered:
        print(f"{len(unanswered)} prompt(s) got no answer (timed out, a server error or no connection; see the "
              f"log above): run the same command again to ask only those", file=sys.stderr)
        return 1
    return 0


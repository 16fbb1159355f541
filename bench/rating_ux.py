"""Benchmark: what rating one case asks of a clinician, in a real browser: how long the
rating page is (its document height at 1280x800 and at 390x844, in pixels and in
screens) and how many clicks and keystrokes it takes to answer every required field and
submit, for a study like the demo (its 5 arms, the default rubric, a demo case with a lab
table and the demo's responses to it), showing all 5 responses per screen and, where the
code has ``Study.arms_per_screen``, 3 of them.

No timings and no targets: the figures are counts and lengths, the same on any machine.
The clicks are those the script makes (one per answer, one per rank, one to submit;
nothing typed, since no required field is text). ``--label`` files the run under
"before" or "after" in bench/results/rating_ux.json, next to what the other label holds,
so a run from a checkout of an older commit (copy this file and
tests/browser/rating_steps.py into it, and run it there with this venv) is compared with
one of the current tree:

    .venv/bin/python bench/rating_ux.py                      # "after": this tree
    cd /tmp/old && /path/to/.venv/bin/python bench/rating_ux.py --label before \\
        --out /path/to/bench/results/rating_ux.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "evalportal_bench_rating_ux"
PG = "postgres://postgres@127.0.0.1:5432"
VIEWPORTS = {"laptop 1280x800": (1280, 800), "phone 390x844": (390, 844)}
CHROMIUM = "/usr/bin/chromium"


def _fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def _django() -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalportal.settings.test")
    # Playwright's sync API runs an event loop in this thread; the ORM calls between
    # browser steps are plain synchronous ones.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.getLogger("axes").setLevel(logging.WARNING)  # a line per login otherwise


def _demo_case_with_a_table() -> tuple[dict, dict[str, str]]:
    """The first demo test case with a lab table, and the demo's response of each arm
    (by method) to it."""
    from annotations.services.demo import DEMO_CASES, DEMO_RESPONSES

    cases = [json.loads(line) for line in DEMO_CASES.read_text().splitlines() if line.strip()]
    case = next(c for c in cases if c.get("tables") and c.get("split", "test") == "test")
    texts = {}
    for line in DEMO_RESPONSES.read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("external_id") == case["external_id"]:
            texts[row["arm"]] = row["text"]
    return case, texts


def _study(label: str, per_screen: int | None, case: dict, texts: dict[str, str], n: int):
    """A study like the demo with one case to rate, planned for a new clinician who has
    read its instructions: (the clinician's username, the assignment's id)."""
    from annotations.models import ModelArm, Response, Study, StudyArm
    from annotations.services.cases import case_import
    from annotations.services.demo import DEMO_ARMS, DEMO_INSTRUCTIONS
    from annotations.services.planner import assignments_plan
    from annotations.services.raters import study_rater_acknowledge_instructions
    from annotations.services.users import user_create

    fields = {"name": f"Rating UX: {label}", "slug": f"rating-ux-{n}", "status": Study.Status.OPEN,
              "instructions": DEMO_INSTRUCTIONS, "raters_per_item": 1}
    if per_screen is not None:
        fields["arms_per_screen"] = per_screen
    study = Study.objects.create(**fields)
    case_import(study=study, data=(json.dumps(case) + "\n").encode(), source_name="case.jsonl")
    stored = study.cases.get()
    for position, (name, method, tokens, _) in enumerate(DEMO_ARMS):
        arm, _ = ModelArm.objects.get_or_create(name=name, defaults={"method": method, "base_model": "demo",
                                                                     "uses_behavior_tokens": tokens})
        StudyArm.objects.create(study=study, arm=arm, position=position)
        text = texts.get(method) or f"{name}: check today's bloods against the booking ones before deciding."
        Response.objects.create(case=stored, arm=arm, text=text, raw_text=text)
    username = f"ux-clinician-{n}"
    clinician = user_create(username=username, password="Rating-ux-bench-42", role="clinician")
    assignments_plan(study=study, raters=[clinician])
    study_rater_acknowledge_instructions(study=study, rater=clinician)
    return username, study.assignments.get(rater=clinician).pk, study.rubric


def _live_server() -> str:
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    server = LiveServerThread("localhost", StaticFilesHandler, connections_override=None, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    return f"http://localhost:{server.port}"


def _log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "Rating-ux-bench-42")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def _measure(browser, base: str, username: str, assignment_id: int, rubric: list[dict], shots: Path | None,
             label: str) -> dict:
    from annotations.models import Assignment
    from tests.browser.rating_steps import answer_every_required, shown_slots, submit

    figures: dict = {"height_px": {}, "screens": {}}
    for name, (width, height) in VIEWPORTS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        _log_in(page, base, username)
        page.goto(f"{base}/rate/{assignment_id}/")
        page.wait_for_load_state("load")
        document_height = page.evaluate("() => document.documentElement.scrollHeight")
        figures["height_px"][name] = document_height
        figures["screens"][name] = round(document_height / height, 1)
        if shots is not None:
            page.screenshot(path=str(shots / f"rating-ux-{label}-{width}.png"), full_page=True)
        if width == max(w for w, _ in VIEWPORTS.values()):
            figures["responses_per_screen"] = len(shown_slots(page))
            effort = answer_every_required(page, rubric) + submit(page)
            page.wait_for_url(lambda url: url.rstrip("/") != f"{base}/rate/{assignment_id}")
            status = Assignment.objects.get(pk=assignment_id).status
            if status != Assignment.Status.SUBMITTED:
                raise RuntimeError(f"the case was not submitted (status {status}): the clicks are not a whole rating")
            figures["clicks"], figures["keystrokes"] = effort.clicks, effort.keys
            figures["clicks_per_response"] = round(effort.clicks / figures["responses_per_screen"], 2)
        context.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", choices=("before", "after"), default="after")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rating_ux.json")
    parser.add_argument("--screenshots", type=Path, help="a folder for the rating pages measured, as PNG")
    args = parser.parse_args()
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    _fresh_database()
    _django()
    from playwright.sync_api import sync_playwright

    from annotations.models import Study
    from bench.results_file import command_line, git_state, machine, write_results

    case, texts = _demo_case_with_a_table()
    variants = {"all 5 arms per screen": None}
    if any(field.name == "arms_per_screen" for field in Study._meta.get_fields()):
        variants = {"all 5 arms per screen": 5, "3 of 5 arms per screen": 3}
    base = _live_server()
    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        for n, (name, per_screen) in enumerate(variants.items()):
            username, assignment_id, rubric = _study(name, per_screen, case, texts, n)
            results[name] = _measure(browser, base, username, assignment_id, rubric, args.screenshots,
                                     f"{args.label}-{per_screen or 'all'}")
        browser.close()
    for name, figures in results.items():
        heights = ", ".join(f"{k} {v:,} px ({figures['screens'][k]} screens)" for k, v in figures["height_px"].items())
        print(f"{name}: {figures['responses_per_screen']} responses; {figures['clicks']} clicks "
              f"({figures['clicks_per_response']} per response), {figures['keystrokes']} keystrokes; {heights}")
    commit, dirty = git_state()
    run = {"recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), "command": command_line(),
           "git_commit": commit, "git_dirty": dirty, "machine": machine(), "case": case["external_id"],
           "rubric_required_fields_per_response": sum(1 for d in rubric if d.get("required", True)
                                                      and d["scale"] != "flag"),
           "results": results}
    earlier = json.loads(args.out.read_text()) if args.out.exists() else {}
    payload = {"benchmark": "rating_ux", "before": earlier.get("before"), "after": earlier.get("after")}
    payload[args.label] = run
    write_results("rating_ux", payload, path=args.out)


if __name__ == "__main__":
    main()

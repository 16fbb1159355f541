"""Importing at BehaviorBench's size: the file is streamed (COPY on PostgreSQL), all or
nothing however far the bad line is, progress reported, cases without a split given a
seeded split stratified by task and gold label, a study's own task types declared once,
and a large upload from the admin page imported by a worker, its warnings on the jobs page."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotations.models import AuditEvent, Case, ImportJob, JobStatus
from annotations.services.cases import BATCH, case_import
from modeling.cases import CaseFileError

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

GOOD = {"task": "omission_detection", "category": "proactive",
        "turns": [{"speaker": "Dr. A", "role": "attending", "text": "Start heparin."}], "question": None,
        "gold_behavior": "proactive", "label_space": ["flag", "no_flag"]}


def _line(i: int, **change) -> str:
    return json.dumps({**GOOD, "external_id": f"c-{i}", "gold_label": "flag" if i % 3 else "no_flag", **change})


def _file(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_a_bad_line_after_thousands_of_good_ones_imports_nothing(study):
    lines = [_line(i) for i in range(BATCH + 500)] + [_line(99_999, task="nope")]
    with pytest.raises(CaseFileError, match=f"line {BATCH + 501}, field 'task'"):
        case_import(study=study, stream=io.BytesIO(_file(lines)))
    assert not Case.objects.exists()


def test_cases_without_a_split_get_one_within_each_task_and_gold_label(study):
    lines = [_line(i) for i in range(300)] + [_line(300 + i, task="error_correction") for i in range(100)]
    result = case_import(study=study, data=_file(lines))
    assert result.created == 400 and sum(result.assigned_splits.values()) == 400
    assert f"assigned one within each task and gold label (seed {study.seed})" in result.message
    cases = Case.objects.filter(study=study)
    assert all(cases.values_list("split_assigned", flat=True))
    for (task, label), n in Counter(cases.values_list("task", "gold_label")).items():
        shares = Counter(cases.filter(task=task, gold_label=label).values_list("split", flat=True))
        assert abs(shares["test"] - 0.2 * n) <= 1 and abs(shares["dev"] - 0.1 * n) <= 1, (task, label, shares)
    audit = AuditEvent.objects.get(action="cases.import")
    assert audit.after["assigned_splits"] == result.assigned_splits and audit.after["split_seed"] == study.seed

    splits = dict(cases.values_list("external_id", "split"))
    again = case_import(study=study, data=_file(lines + [_line(400)]))  # one more: the others keep theirs
    assert again.created == 1 and again.unchanged == 400
    assert {k: v for k, v in Case.objects.filter(study=study).values_list("external_id", "split") if k in splits} \
        == splits


def test_a_split_given_in_the_file_is_kept(study):
    case_import(study=study, data=_file([_line(0, split="train"), _line(1, split="dev")]))
    assert list(Case.objects.order_by("external_id").values_list("split", "split_assigned")) == [
        ("train", False), ("dev", False)]


def test_progress_is_reported_in_bytes_up_to_the_whole_file(study):
    data = _file([_line(i) for i in range(2 * BATCH + 10)])
    seen = []
    case_import(study=study, stream=io.BytesIO(data), size=len(data), progress=lambda done, total: seen.append(
        (done, total)))
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == (len(data), len(data))


def test_a_studys_own_task_types_are_declared_once_for_the_command_line(study, tmp_path):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([{"name": "lab_interpretation", "category": "reactive",
                                  "label_space": ["A", "B", "C", "D"], "extractor": "option"}]))
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(_file([_line(0, task="lab_interpretation", category="reactive", gold_behavior="reactive",
                                   label_space=["A", "B"], gold_label="B", question="A or B?")]))
    with pytest.raises(CommandError, match="unknown task 'lab_interpretation'"):
        call_command("import_cases", str(cases), "--study", study.slug)
    call_command("import_cases", str(cases), "--study", study.slug, "--tasks", str(tasks))
    study.refresh_from_db()
    assert study.extra_tasks[0]["name"] == "lab_interpretation" and Case.objects.get().task == "lab_interpretation"
    tasks.write_text(json.dumps([{"name": "x", "category": "sideways"}]))
    with pytest.raises(CommandError, match="Not a valid task type list"):
        call_command("import_cases", str(cases), "--study", study.slug, "--tasks", str(tasks))


def _import_run(job) -> str:
    """What a worker runs for the job's one chunk (planned here for a job made without it)."""
    from annotations.services.chunks import chunk_whole_plan
    from annotations.services.imports import import_chunk_run

    if not job.chunks.exists():
        chunk_whole_plan(job=job, units=job.size)
    return import_chunk_run(chunk_id=job.chunks.get().pk, worker="test@host")


def test_a_background_imports_warnings_are_on_the_jobs_page(admin_client_, study, tmp_path):
    clash = {"speaker": "Dr. A", "role": "attending", "text": "Mr. Tran, 58, had a positive pregnancy test."}
    lines = [_line(i) for i in range(30)] + [_line(30 + i, turns=[clash]) for i in range(25)]
    path = tmp_path / "upload.jsonl"
    path.write_bytes(_file(lines))
    job = ImportJob.objects.create(study=study, source_name="w.jsonl", path=str(path), size=path.stat().st_size)
    assert _import_run(job) == "succeeded"
    job.refresh_from_db()
    assert job.result["warnings"]["total"] == 25 and len(job.warning_lines) == 20
    assert job.warning_lines[0] == ("line 31 (c-30): Mr. Tran is male (called Mr. Tran) but turns[0].text mentions "
                                    "'pregnancy'.")
    html = admin_client_.get(f"/studies/{study.slug}/jobs/").content.decode()
    assert f'id="job-import-{job.pk}-warnings"' in html and html.count("Mr. Tran is male") == 20
    assert "25 warnings on 25 cases (sex or pronoun clashes: 25); the first 20 are listed." in html
    assert "The first 20 warnings of 25" in html


@pytest.mark.django_db(transaction=True)  # the job is queued when its transaction commits
def test_a_large_upload_is_imported_by_a_worker_with_its_progress_on_the_jobs_page(admin_client_, study, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.annotations.worker_helpers import flush_test_broker

    flush_test_broker()
    settings.CASE_IMPORT_BACKGROUND_BYTES = 1000
    data = _file([_line(i) for i in range(50)])
    response = admin_client_.post("/admin/annotations/case/import/", {
        "study": study.pk, "file": SimpleUploadedFile("big.jsonl", data)}, follow=True)
    job = ImportJob.objects.get()
    assert f"is being imported by job #{job.pk}" in response.content.decode()
    assert response.redirect_chain[-1][0] == f"/studies/{study.slug}/jobs/"
    assert job.celery_task_id and job.size == len(data) and not Case.objects.exists()  # nothing in the request
    assert f'id="job-import-{job.pk}"' in admin_client_.get(f"/studies/{study.slug}/jobs/").content.decode()

    chunk = job.chunks.get()  # one chunk: the whole file, no case range
    assert (chunk.first_case_id, chunk.last_case_id, chunk.units) == (None, None, len(data))
    assert _import_run(job) == "succeeded"  # what the worker runs
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress_done == job.progress_total == len(data)
    assert job.result["created"] == 50 and Case.objects.count() == 50 and not Path(job.path).exists()
    assert job.result["warnings"] == {} and job.warning_lines == []

    bad = ImportJob.objects.create(study=study, source_name="bad.jsonl", path=str(Path(job.path).with_name("b.jsonl")),
                                   size=10)
    Path(bad.path).write_bytes(b"{}\n" * 3)
    assert _import_run(bad) == "failed"
    bad.refresh_from_db()
    assert bad.status == JobStatus.FAILED and bad.problem_total == 21 and "line 1, field" in bad.problems[0]
    assert "21 problem(s) in the case file" in bad.error
    flush_test_broker()

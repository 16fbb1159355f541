"""The study page's Hugging Face dataset export: the researcher's form queues a job that a
real Celery worker writes, the jobs page offers it and the .zip downloads and loads back;
bad input is a form error with nothing queued; clinicians reach none of it."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import datasets
import pytest
import redis
from django.urls import reverse

from annotations.models import DatasetExportJob, JobStatus, Rating
from annotations.services.dataset_export import dataset_export_job_queue
from tests.annotations.worker_helpers import TEST_REDIS_URL, wait_until


def _media_root(var_dir: Path) -> Path:
    """MEDIA_ROOT of the test settings under EVALPORTAL_VAR_DIR=var_dir (evalportal/settings/test.py)."""
    xdist = os.environ.get("PYTEST_XDIST_WORKER", "")
    return var_dir / "xdist" / xdist / "media" if xdist else var_dir / "media"


@pytest.fixture
def media(tmp_path, monkeypatch, settings):
    """This test's own media folder, in this process and in the worker it starts."""
    var_dir = tmp_path / "var"
    monkeypatch.setenv("EVALPORTAL_VAR_DIR", str(var_dir))
    settings.MEDIA_ROOT = _media_root(var_dir)
    return settings.MEDIA_ROOT


def _queued_messages() -> int:
    return redis.Redis.from_url(TEST_REDIS_URL).llen("default")


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_page_button_queues_an_export_a_worker_writes_and_the_zip_downloads(
        rated_submissions, researcher_client, media, workers, tmp_path):
    study = rated_submissions
    page = researcher_client.get(reverse("study-detail", args=[study.slug]))
    assert b'id="dataset-export-form"' in page.content

    response = researcher_client.post(reverse("dataset-export-queue", args=[study.slug]),
                                      {"license": "cc-by-sa-4.0", "repo_id": ""})
    assert response.status_code == 302 and response.url == reverse("job-list", args=[study.slug])
    job = DatasetExportJob.objects.get(study=study)
    assert (job.status, job.license, job.repo_id, job.private) == (JobStatus.QUEUED, "cc-by-sa-4.0", "", True)

    worker = workers()
    wait_until(lambda: DatasetExportJob.objects.get(pk=job.pk).status not in (JobStatus.QUEUED, JobStatus.RUNNING),
               180, "the export to finish", interval=0.5)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error + worker.log()
    assert job.rows["ratings"] == Rating.objects.filter(submission__assignment__study=study).count()
    assert (job.progress_done, job.progress_total) == (8, 8)

    jobs_page = researcher_client.get(reverse("job-list", args=[study.slug])).content.decode()
    download = reverse("dataset-export-download", args=[study.slug, job.pk])
    assert f'href="{download}"' in jobs_page and "cc-by-sa-4.0" in jobs_page

    response = researcher_client.get(download)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    prefix = f"{study.slug}-dataset-{job.pk}"
    assert f"{prefix}/README.md" in archive.namelist()
    assert f"{prefix}/data/ratings-00000-of-00001.parquet" in archive.namelist()
    archive.extractall(tmp_path / "unzipped")
    loaded = datasets.load_from_disk(str(tmp_path / "unzipped" / prefix))
    assert {name: split.num_rows for name, split in loaded.items()} == job.rows
    assert "license: cc-by-sa-4.0" in (tmp_path / "unzipped" / prefix / "README.md").read_text()


@pytest.mark.parametrize(("form", "error"), [
    ({"license": "cc-by-99", "repo_id": ""}, "Select a valid choice"),
    ({"license": "", "repo_id": ""}, "This field is required"),
    ({"license": "mit", "repo_id": "my lab/study"}, "not a valid name"),
    ({"license": "mit", "repo_id": "lab/study/extra"}, "org/name"),
])
@pytest.mark.django_db
def test_bad_input_is_a_form_error_and_nothing_is_queued(rated_study, researcher_client, clean_broker, form, error):
    response = researcher_client.post(reverse("dataset-export-queue", args=[rated_study.slug]), form)

    assert response.status_code == 400
    page = response.content.decode()
    assert error in page and 'id="dataset-export-form"' in page
    if form["repo_id"]:  # kept as typed
        assert f'value="{form["repo_id"]}"' in page
    assert not DatasetExportJob.objects.exists() and _queued_messages() == 0


@pytest.mark.django_db
def test_the_service_refuses_what_the_form_refuses(rated_study, researcher, clean_broker):
    from annotations.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="Unknown licence"):
        dataset_export_job_queue(study=rated_study, license_id="gpl-9", actor=researcher)
    with pytest.raises(InvalidRequest, match="org/name"):
        dataset_export_job_queue(study=rated_study, license_id="mit", repo_id="justaname", actor=researcher)
    assert not DatasetExportJob.objects.exists() and _queued_messages() == 0


@pytest.mark.django_db
def test_clinicians_reach_none_of_it_and_an_unfinished_export_has_nothing_to_download(
        rated_study, researcher, researcher_client, clinician_client, clean_broker):
    job = dataset_export_job_queue(study=rated_study, license_id="mit", actor=researcher)
    download = reverse("dataset-export-download", args=[rated_study.slug, job.pk])

    assert clinician_client.post(reverse("dataset-export-queue", args=[rated_study.slug]),
                                 {"license": "mit"}).status_code == 403
    assert clinician_client.get(download).status_code == 403
    assert DatasetExportJob.objects.count() == 1
    assert researcher_client.get(download).status_code == 404
    assert researcher_client.get(reverse("dataset-export-download", args=[rated_study.slug, job.pk + 1])
                                 ).status_code == 404


def _run(job) -> str:
    """The job's one chunk, run here as a worker would run it."""
    from annotations.services.dataset_export import dataset_export_chunk_run

    return dataset_export_chunk_run(chunk_id=job.chunks.get().pk, worker="cpu@host")


@pytest.mark.django_db
def test_a_push_without_a_token_fails_the_job_saying_so_and_leaves_no_files(
        rated_study, researcher, media, clean_broker, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    job = dataset_export_job_queue(study=rated_study, license_id="mit", repo_id="lab/rated", actor=researcher)

    assert _run(job) == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "HF_TOKEN" in job.error and not job.hub_url
    assert not (Path(media) / "dataset_exports" / str(job.pk)).exists()


@pytest.mark.django_db
def test_an_export_cancelled_while_it_writes_ends_cancelled_and_removes_what_it_wrote(
        rated_study, researcher, media, clean_broker, monkeypatch):
    from annotations import hf_dataset

    job = dataset_export_job_queue(study=rated_study, license_id="mit", actor=researcher)
    read_responses = hf_dataset.SPLIT_TABLES["responses"]

    def cancelled_while_reading(study, features, people):  # the researcher presses Cancel meanwhile
        DatasetExportJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        return read_responses(study, features, people)

    monkeypatch.setitem(hf_dataset.SPLIT_TABLES, "responses", cancelled_while_reading)

    assert _run(job) == "cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.rows
    assert not (Path(media) / "dataset_exports" / str(job.pk)).exists()


@pytest.mark.django_db
def test_only_the_newest_exports_keep_their_files_and_the_older_ones_say_so(
        rated_study, researcher, researcher_client, media, clean_broker, settings):
    """Each export writes a folder the size of the study: an export that succeeds removes
    the files of the study's older ones beyond the newest DATASET_EXPORTS_KEPT, and any
    folder whose job is gone; their rows stay, saying the files were removed."""
    settings.DATASET_EXPORTS_KEPT = 2
    orphan = Path(media) / "dataset_exports" / "987654"
    orphan.mkdir(parents=True)
    jobs = []
    for _ in range(3):
        jobs.append(dataset_export_job_queue(study=rated_study, license_id="mit", actor=researcher))
        assert _run(jobs[-1]) == "succeeded"
    oldest, *kept = [DatasetExportJob.objects.get(pk=job.pk) for job in jobs]
    assert oldest.output_dir == "" and oldest.rows and not (Path(media) / "dataset_exports" / str(oldest.pk)).exists()
    assert all(Path(job.output_dir).is_dir() for job in kept) and not orphan.exists()

    download = "dataset-export-download"
    assert researcher_client.get(reverse(download, args=[rated_study.slug, oldest.pk])).status_code == 404
    assert researcher_client.get(reverse(download, args=[rated_study.slug, kept[0].pk])).status_code == 200
    page = researcher_client.get(reverse("job-list", args=[rated_study.slug])).content.decode()
    row = page.split(f'id="job-dataset_export-{oldest.pk}-files"')[1].split("</tr>")[0]
    assert "Its files were removed" in row and "Download" not in row
    assert reverse(download, args=[rated_study.slug, kept[1].pk]) in page

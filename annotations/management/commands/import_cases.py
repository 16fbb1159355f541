import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotations.errors import DomainError
from annotations.models import Study
from annotations.services.cases import CaseFileError, case_import
from annotations.services.studies import study_set_tasks


class Command(BaseCommand):
    help = ("Import a JSON Lines case file into a study (streamed; all or nothing; re-import is a no-op). "
            "Cases without a split get one, stratified by task and gold label.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--study", required=True, help="The study's slug.")
        parser.add_argument("--tasks", type=Path, help="A JSON file of the study's own task types (a list of "
                                                       "{name, category, label_space, extractor, ...}); stored "
                                                       "with the study before the import.")

    def handle(self, *args, file: Path, study: str, tasks: Path | None = None, **options):
        try:
            target = Study.objects.get(slug=study)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {study!r}.") from None
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        if tasks is not None:
            try:
                study_set_tasks(study=target, tasks=json.loads(tasks.read_text(encoding="utf-8")))
            except (OSError, ValueError, DomainError) as exc:
                raise CommandError(f"{tasks}: {exc}") from None
        size = file.stat().st_size
        with file.open("rb") as stream, _progress_bar(size) as progress:
            try:
                result = case_import(study=target, stream=stream, size=size, source_name=file.name,
                                     progress=progress)
            except CaseFileError as exc:
                raise CommandError(f"Nothing was imported.\n{exc}") from None
        self.stdout.write(self.style.SUCCESS(result.message))
        for line in result.warning_lines:  # the first few; the message counts them all
            self.stdout.write(self.style.WARNING(f"warning: {line}"))


class _progress_bar:
    """A tqdm bar of bytes read on a terminal; nothing otherwise."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="B", unit_scale=True, desc="import", disable=not sys.stderr.isatty())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotations.models import Study
from annotations.services.cases import CaseFileError, case_import


class Command(BaseCommand):
    help = "Import a JSON Lines case file into a study (all or nothing; re-import is a no-op)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--study", required=True, help="The study's slug.")

    def handle(self, *args, file: Path, study: str, **options):
        try:
            target = Study.objects.get(slug=study)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {study!r}.") from None
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            result = case_import(study=target, data=file.read_bytes(), source_name=file.name)
        except CaseFileError as exc:
            raise CommandError(f"Nothing was imported.\n{exc}") from None
        self.stdout.write(self.style.SUCCESS(result.message))

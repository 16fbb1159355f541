from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotations.errors import DomainError
from annotations.hf_dataset import dataset_write
from annotations.models.dataset_export import LICENSE_IDS
from annotations.selectors.studies import study_get


class Command(BaseCommand):
    help = ("Write a study as a Hugging Face dataset: save_to_disk files, Parquet shards under data/ and the "
            "dataset card README.md, into a new or empty folder; with --push-to-hub, also push it to the Hub "
            "(the token in HF_TOKEN; a new repository is private unless --public).")

    def add_arguments(self, parser):
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("--out", type=Path, required=True, help="The folder to write (new or empty).")
        parser.add_argument("--license", required=True, choices=LICENSE_IDS, help="The dataset's licence (Hub id).")
        parser.add_argument("--push-to-hub", default="", metavar="ORG/NAME",
                            help="The Hub dataset repository to push to.")
        parser.add_argument("--public", action="store_true", help="Create a new Hub repository public.")

    def handle(self, *args, study: str, out: Path, license: str, push_to_hub: str, public: bool,  # noqa: A002
               **options):
        try:
            written = dataset_write(study_get(study), out=out, license_id=license, repo_id=push_to_hub.strip(),
                                    private=not public)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        rows = ", ".join(f"{name} {n:,}" for name, n in written.rows.items())
        self.stdout.write(self.style.SUCCESS(f"Wrote {written.out} ({rows})."))
        if written.hub_url:
            self.stdout.write(self.style.SUCCESS(f"Pushed to {written.hub_url}"))

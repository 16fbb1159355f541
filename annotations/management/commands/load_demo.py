from django.core.management.base import BaseCommand, CommandError

from annotations.errors import DomainError
from annotations.services.demo import DEMO_USERS, demo_archive, demo_load


class Command(BaseCommand):
    help = "Create (or refresh) the demo study, its arms, cases, responses and the demo users. Dev only."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true",
                            help="move the existing demo study aside (renamed and closed, its ratings kept) and "
                                 "load a fresh one from the shipped files")

    def handle(self, *args, **options):
        if options["reset"]:
            archived = demo_archive()
            if archived is not None:
                self.stdout.write(f"The old demo study is now '{archived.slug}' (closed, ratings kept).")
        try:
            summary = demo_load()
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(summary))
        self.stdout.write("Demo logins (development only):")
        for username, password, role in DEMO_USERS:
            self.stdout.write(f"  {role:<11} {username:<12} {password}")

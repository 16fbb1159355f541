import getpass
import sys

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotations.services.users import user_create
from evalportal.roles import ROLES


class Command(BaseCommand):
    help = "Create a user with a role (clinician, researcher or admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Read from standard input or a prompt when left out.")

    def handle(self, *args, username, role, email, password, **options):
        if password is None:
            password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        try:
            password_validation.validate_password(password)
        except ValidationError as exc:
            raise CommandError("Password refused: " + " ".join(exc.messages)) from None
        try:
            user_create(username=username, password=password, role=role, email=email)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Created {role} {username!r}."))

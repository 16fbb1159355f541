from django.core.management.base import BaseCommand

from annotations.services.demo import DEMO_USERS, demo_load


class Command(BaseCommand):
    help = "Create (or refresh) the demo study, its arms, cases, responses and the demo users. Dev only."

    def handle(self, *args, **options):
        summary = demo_load()
        self.stdout.write(self.style.SUCCESS(summary))
        self.stdout.write("Demo logins (development only):")
        for username, password, role in DEMO_USERS:
            self.stdout.write(f"  {role:<11} {username:<12} {password}")

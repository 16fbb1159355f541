from django.core.management.base import BaseCommand, CommandError

from annotations.errors import DomainError
from annotations.services.demo import demo_adapters_train


class Command(BaseCommand):
    help = ("Queue training of the demo arms' adapters that this machine lacks (a fresh clone ships none); "
            "`make run` does it once the worker is up. Their progress is on the demo study's jobs page.")

    def handle(self, *args, **options):
        try:
            jobs = demo_adapters_train()
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        if not jobs:
            self.stdout.write("Every demo arm has its adapter (or is being trained).")
        for job in jobs:
            self.stdout.write(f"Training job #{job.pk}: the {job.target_arm.name} demo arm's adapter, in the "
                              "background (see /studies/demo/jobs/); its arm generates once it is done.")

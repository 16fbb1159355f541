from django.core.management.base import BaseCommand, CommandError

from annotations.errors import DomainError
from annotations.queues import GPU_QUEUE
from annotations.services.demo import DEMO_TRAINING, demo_adapters_train


class Command(BaseCommand):
    help = ("Queue training of the demo arms' adapters that this machine lacks (a fresh clone ships none) on the "
            "gpu queue, where a worker trains them; `make run` does it once its worker is up. Their progress is on "
            "the demo study's jobs page.")

    def add_arguments(self, parser):
        parser.add_argument("--steps", type=int, help=f"optimizer steps of each training (default: "
                                                      f"{DEMO_TRAINING['epochs']:g} epoch; 1 checks a worker "
                                                      f"set-up quickly)")

    def handle(self, *args, steps: int | None = None, **options):
        try:
            jobs = demo_adapters_train(steps=steps)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        if not jobs:
            self.stdout.write("Every demo arm has its adapter (or is being trained).")
        for job in jobs:
            self.stdout.write(f"Training job #{job.pk}: the {job.target_arm.name} demo arm's adapter, queued on the "
                              f"{GPU_QUEUE} queue for a worker to train (progress: /studies/demo/jobs/); the arm "
                              "generates once it is done.")

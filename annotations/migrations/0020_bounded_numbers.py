"""Bounds on every number a user can set (annotations/models/bounds.py), and the numbers
stored before them that break what reads them brought within."""

import annotations.models.arm
import annotations.models.bounds
import django.core.validators
from django.db import migrations, models


def clamp_stored_numbers(apps, schema_editor):
    """Numbers stored before they were bounded that break what reads them, brought within
    the bounds: a study's timeout past 7 days overflowed the release of idle assignments on
    every rater's next case, a gold rate of 1 divides by zero when planning. The bounds are
    written out here as they were when this ran."""
    Study = apps.get_model("annotations", "Study")
    ModelArm = apps.get_model("annotations", "ModelArm")
    Study.objects.filter(assignment_timeout_minutes__gt=10080).update(assignment_timeout_minutes=10080)
    Study.objects.filter(assignment_timeout_minutes__lt=1).update(assignment_timeout_minutes=1)
    Study.objects.filter(raters_per_item__lt=1).update(raters_per_item=1)
    Study.objects.filter(gold_rate__gt=0.5).update(gold_rate=0.5)
    Study.objects.filter(gold_rate__lt=0).update(gold_rate=0)
    ModelArm.objects.filter(max_concurrency__gt=256).update(max_concurrency=256)
    ModelArm.objects.filter(max_concurrency__lt=1).update(max_concurrency=1)


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0019_job_heartbeats'),
    ]

    operations = [
        migrations.AlterField(
            model_name='assignment',
            name='active_seconds',
            field=models.FloatField(default=0, validators=[annotations.models.bounds.finite_check, django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(604800.0)]),
        ),
        migrations.AlterField(
            model_name='assignment',
            name='queue_position',
            field=models.PositiveIntegerField(default=0, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(10000000)]),
        ),
        migrations.AlterField(
            model_name='assignment',
            name='square_row',
            field=models.PositiveSmallIntegerField(default=0, help_text="Row of the rater's balanced square the slot order was drawn from.", validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(25)]),
        ),
        migrations.AlterField(
            model_name='modelarm',
            name='decoding_params',
            field=models.JSONField(blank=True, default=dict, validators=[annotations.models.arm.decoding_params_check]),
        ),
        migrations.AlterField(
            model_name='modelarm',
            name='max_concurrency',
            field=models.PositiveSmallIntegerField(default=8, help_text='Requests in flight at once per worker, for an endpoint arm (1 to 256).', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(256)]),
        ),
        migrations.AlterField(
            model_name='response',
            name='completion_tokens',
            field=models.PositiveIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(10000000)]),
        ),
        migrations.AlterField(
            model_name='response',
            name='latency_s',
            field=models.FloatField(blank=True, null=True, validators=[annotations.models.bounds.finite_check, django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(86400.0)]),
        ),
        migrations.AlterField(
            model_name='response',
            name='prompt_tokens',
            field=models.PositiveIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(10000000)]),
        ),
        migrations.AlterField(
            model_name='study',
            name='assignment_timeout_minutes',
            field=models.PositiveIntegerField(default=120, help_text='An untouched assignment returns to the pool after this long (1 minute to 7 days).', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(10080)]),
        ),
        migrations.AlterField(
            model_name='study',
            name='gold_rate',
            field=models.FloatField(default=0.0, help_text="Share of each rater's new assignments that are gold cases (0 to 0.5), mixed in blind when planning.", validators=[annotations.models.bounds.finite_check, django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(0.5)]),
        ),
        migrations.AlterField(
            model_name='study',
            name='raters_per_item',
            field=models.PositiveSmallIntegerField(default=3, help_text='k: raters per case (1 to 50).', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(50)]),
        ),
        migrations.AlterField(
            model_name='study',
            name='seed',
            field=models.BigIntegerField(default=20250527, help_text='Seeds the assignment planner (0 to 2^32 - 1).', validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(4294967295)]),
        ),
        migrations.AlterField(
            model_name='generationjob',
            name='seed',
            field=models.BigIntegerField(default=0, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(4294967295)]),
        ),
        migrations.AlterField(
            model_name='studyarm',
            name='position',
            field=models.PositiveSmallIntegerField(default=0, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(999)]),
        ),
        migrations.RunPython(clamp_stored_numbers, migrations.RunPython.noop),
    ]

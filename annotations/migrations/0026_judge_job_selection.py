"""Judge jobs: how many responses a job's selection covers, an endpoint model the worker
resolves (blank ``model_ref``), the selection by arms and listed responses, and scores
whose request failed for good (method ``error``); an endpoint arm's timeout and retries."""

import django.core.validators
from django.db import migrations, models

import annotations.models.bounds


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0025_response_finish_reason'),
    ]

    operations = [
        migrations.AddField(
            model_name='judgejob',
            name='response_count',
            field=models.PositiveIntegerField(default=0, editable=False, help_text='How many responses the selection covered when the job was queued.'),
        ),
        migrations.AddField(
            model_name='modelarm',
            name='max_retries',
            field=models.PositiveSmallIntegerField(blank=True, help_text="Retries, with backoff, of a request to an endpoint arm's server that timed out, met a server error or could not connect (0 to 10; blank: the EVALPORTAL_ENDPOINT_MAX_RETRIES setting).", null=True, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(10)]),
        ),
        migrations.AddField(
            model_name='modelarm',
            name='request_timeout_s',
            field=models.FloatField(blank=True, help_text="Seconds one request to an endpoint arm's server may take, waiting at the server included (1 to 3600; blank: the EVALPORTAL_ENDPOINT_TIMEOUT_S setting).", null=True, validators=[annotations.models.bounds.finite_check, django.core.validators.MinValueValidator(1.0), django.core.validators.MaxValueValidator(3600.0)]),
        ),
        migrations.AlterField(
            model_name='judgejob',
            name='model_ref',
            field=models.CharField(blank=True, help_text='Local: "demo", a Hugging Face directory or a .gguf file. OpenAI-compatible: the model name at the endpoint; blank: the worker\'s JUDGE_OPENAI_MODEL, read when the job runs.', max_length=500),
        ),
        migrations.AlterField(
            model_name='judgejob',
            name='selection',
            field=models.JSONField(blank=True, default=dict, help_text='Which responses: {"arm_ids": [...]}, the newest response of each of those arms to each test case; with "response_ids": [...], only those (of those arms).'),
        ),
        migrations.AlterField(
            model_name='judgescore',
            name='method',
            field=models.CharField(help_text="logits, logprobs, emitted or samples; error when the request failed for good (a prompt longer than the judge's context)", max_length=20),
        ),
        migrations.AlterField(
            model_name='judgescore',
            name='score',
            field=models.FloatField(blank=True, help_text="On the dimension's scale (1-5, or 0-1); empty when the judge's answer was unreadable, or when its request failed for good (method error, raw_output's error).", null=True),
        ),
    ]

"""The Hugging Face dataset export's job and chunk (annotations/models/dataset_export.py)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0026_judge_job_selection'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='DatasetExportJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=10)),
                ('progress_done', models.PositiveIntegerField(default=0)),
                ('progress_total', models.PositiveIntegerField(default=0)),
                ('tokens_per_s', models.FloatField(blank=True, null=True)),
                ('eta_s', models.FloatField(blank=True, null=True)),
                ('celery_task_id', models.CharField(blank=True, db_index=True, max_length=64)),
                ('cancel_requested', models.BooleanField(default=False)),
                ('error', models.TextField(blank=True)),
                ('traceback', models.TextField(blank=True)),
                ('worker_host', models.CharField(blank=True, max_length=200)),
                ('device_name', models.CharField(blank=True, max_length=200)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('license', models.CharField(choices=[('cc-by-4.0', 'CC BY 4.0'), ('cc-by-sa-4.0', 'CC BY-SA 4.0'), ('cc-by-nc-4.0', 'CC BY-NC 4.0'), ('cc-by-nc-sa-4.0', 'CC BY-NC-SA 4.0'), ('cc0-1.0', 'CC0 1.0'), ('odc-by', 'ODC-By'), ('mit', 'MIT'), ('apache-2.0', 'Apache 2.0'), ('other', 'Other (state it in the card)')], max_length=20)),
                ('repo_id', models.CharField(blank=True, help_text='The Hub dataset repository to push to (org/name); blank: no push.', max_length=200)),
                ('private', models.BooleanField(default=True, help_text='Create the Hub repository private.')),
                ('output_dir', models.CharField(blank=True, help_text='Where the worker wrote the dataset.', max_length=500)),
                ('hub_url', models.CharField(blank=True, help_text="The pushed dataset's page on the Hub.", max_length=500)),
                ('rows', models.JSONField(blank=True, default=dict, help_text='Rows written per split.')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='dataset_export_jobs', to='annotations.study')),
            ],
            options={
                'ordering': ['-created_at'],
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='DatasetExportChunk',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('index', models.PositiveIntegerField()),
                ('first_case_id', models.BigIntegerField(blank=True, null=True)),
                ('last_case_id', models.BigIntegerField(blank=True, null=True)),
                ('units', models.PositiveIntegerField(default=0, help_text='Work planned: cases (judge: prompts; training: steps; import: bytes).')),
                ('done', models.PositiveIntegerField(default=0)),
                ('tokens', models.BigIntegerField(default=0)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=10)),
                ('sends', models.PositiveSmallIntegerField(default=0)),
                ('worker', models.CharField(blank=True, help_text='The Celery worker that ran it last.', max_length=200)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
                ('run_token', models.CharField(blank=True, max_length=32)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='annotations.datasetexportjob')),
            ],
            options={
                'ordering': ['job', 'index'],
                'abstract': False,
                'constraints': [models.UniqueConstraint(fields=('job', 'index'), name='one_dataset_export_chunk_per_index')],
            },
        ),
    ]

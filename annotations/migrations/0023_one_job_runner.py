"""Every job runs as chunks: training and import jobs get one chunk each (no case range),
and the job rows lose their run token and heartbeat (a chunk holds them).

Each training or import job made before gets its one chunk here, in the job's state (a
running job's run token and heartbeat move to it), so that it can still be cancelled and
retried. A message sent for such a job before is not run any more (its task now takes a
chunk's id, under a task id derived from the job's): a job still queued is cancelled and
retried, one still running is seen as "worker lost" after JOB_WORKER_LOST_S and retried.
"""

import django.db.models.deletion
from django.db import migrations, models

WHOLE_JOB_KINDS = (("TrainingJob", "TrainingChunk"), ("ImportJob", "ImportChunk"))


def whole_job_chunks(apps, schema_editor):
    for job_name, chunk_name in WHOLE_JOB_KINDS:
        job_model, chunk_model = apps.get_model("annotations", job_name), apps.get_model("annotations", chunk_name)
        chunk_model.objects.bulk_create([chunk_model(
            job=job, index=0, units=job.progress_total, done=job.progress_done, status=job.status,
            worker=job.worker_host, attempts=job.attempts, error=job.error[:5000], run_token=job.run_token,
            heartbeat_at=job.heartbeat_at, started_at=job.started_at, finished_at=job.finished_at,
        ) for job in job_model.objects.filter(chunks__isnull=True).iterator()], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0022_chunk_task_ids_derived'),
    ]

    operations = [
        migrations.AlterField(
            model_name='generationchunk',
            name='first_case_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='generationchunk',
            name='last_case_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='generationchunk',
            name='units',
            field=models.PositiveIntegerField(default=0, help_text='Work planned: cases (judge: prompts; training: steps; import: bytes).'),
        ),
        migrations.AlterField(
            model_name='judgechunk',
            name='first_case_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='judgechunk',
            name='last_case_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='judgechunk',
            name='units',
            field=models.PositiveIntegerField(default=0, help_text='Work planned: cases (judge: prompts; training: steps; import: bytes).'),
        ),
        migrations.CreateModel(
            name='ImportChunk',
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
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='annotations.importjob')),
            ],
            options={
                'ordering': ['job', 'index'],
                'abstract': False,
                'constraints': [models.UniqueConstraint(fields=('job', 'index'), name='one_import_chunk_per_index')],
            },
        ),
        migrations.CreateModel(
            name='TrainingChunk',
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
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='annotations.trainingjob')),
            ],
            options={
                'ordering': ['job', 'index'],
                'abstract': False,
                'constraints': [models.UniqueConstraint(fields=('job', 'index'), name='one_training_chunk_per_index')],
            },
        ),
        migrations.RunPython(whole_job_chunks, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='generationjob',
            name='heartbeat_at',
        ),
        migrations.RemoveField(
            model_name='generationjob',
            name='run_token',
        ),
        migrations.RemoveField(
            model_name='importjob',
            name='heartbeat_at',
        ),
        migrations.RemoveField(
            model_name='importjob',
            name='run_token',
        ),
        migrations.RemoveField(
            model_name='judgejob',
            name='heartbeat_at',
        ),
        migrations.RemoveField(
            model_name='judgejob',
            name='run_token',
        ),
        migrations.RemoveField(
            model_name='trainingjob',
            name='heartbeat_at',
        ),
        migrations.RemoveField(
            model_name='trainingjob',
            name='run_token',
        ),
    ]

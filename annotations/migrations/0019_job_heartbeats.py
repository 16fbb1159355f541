from django.db import migrations, models

JOB_MODELS = ("generationjob", "trainingjob", "judgejob", "importjob")
CHUNK_MODELS = ("generationchunk", "judgechunk")


def _fields(model_name: str) -> list:
    return [
        migrations.AddField(model_name=model_name, name="run_token",
                            field=models.CharField(blank=True, max_length=32)),
        migrations.AddField(model_name=model_name, name="heartbeat_at",
                            field=models.DateTimeField(blank=True, null=True)),
    ]


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0018_rescore_responses_by_assertion"),
    ]

    operations = [op for model_name in JOB_MODELS + CHUNK_MODELS for op in _fields(model_name)]

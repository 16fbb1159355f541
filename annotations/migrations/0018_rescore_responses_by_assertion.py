"""Every stored response scored again with the reading that finds rather than matches
(modeling/reading.py): a mention of the planted problem now counts only where the
response asserts it in words the case does not already hold, and restraint is read by
meaning. Needs the case's text, which the earlier scoring did not read. The whole reading
is stored with each response (``Response.reading``) for the automatic metrics to count."""

from django.db import migrations, models

CHUNK = 2000


def rescore(apps, schema_editor):
    from modeling.metrics import score_response
    from modeling.task_types import build_registry

    Response = apps.get_model("annotations", "Response")
    Study = apps.get_model("annotations", "Study")
    registries = {study.pk: build_registry(study.extra_tasks) for study in Study.objects.all()}
    fields = ("pk", "text", "predicted_behavior", "case__study_id", "case__task", "case__gold_label",
              "case__gold_behavior", "case__label_space", "case__question", "case__planted_problem",
              "case__external_id", "case__specialty", "case__turns", "case__tables", "case__images")
    batch = []
    for row in Response.objects.values(*fields).iterator(chunk_size=CHUNK):
        task = registries[row["case__study_id"]].get(row["case__task"])
        if task is None or not row["case__gold_label"]:
            continue
        record = {key.removeprefix("case__"): value for key, value in row.items() if key.startswith("case__")}
        record.update(text=row["text"], predicted_behavior=row["predicted_behavior"] or None)
        reading = score_response(record, task)
        batch.append(Response(pk=row["pk"], correct=bool(reading["correct"]), reading=reading))
        if len(batch) >= CHUNK:
            Response.objects.bulk_update(batch, ["correct", "reading"])
            batch = []
    Response.objects.bulk_update(batch, ["correct", "reading"])


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0017_judge_planted_readings"),
    ]

    operations = [
        migrations.AddField(
            model_name="response",
            name="reading",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(rescore, migrations.RunPython.noop),
    ]

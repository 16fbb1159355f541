from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0026_judge_job_selection'),
    ]

    operations = [
    ]

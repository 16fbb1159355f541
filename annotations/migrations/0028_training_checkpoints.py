from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0027_dataset_export_job'),
    ]

    operations = [
    ]

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0025_response_finish_reason'),
    ]

    operations = [
    ]

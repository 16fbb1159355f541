from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0024_study_arms_per_screen'),
    ]

    operations = [
    ]

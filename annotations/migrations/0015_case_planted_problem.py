from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0014_onboarding_and_gold'),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="planted_problem",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]

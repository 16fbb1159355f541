from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0024_study_arms_per_screen'),
    ]

    operations = [
        migrations.AddField(
            model_name='response',
            name='finish_reason',
            field=models.CharField(blank=True, help_text='Why the response ended: stop (the model ended it), length (cut at the token limit), or what an inference server said; blank where nothing said.', max_length=20),
        ),
    ]

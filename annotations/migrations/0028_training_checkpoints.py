import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0027_dataset_export_job'),
    ]

    operations = [
        migrations.AddField(
            model_name='trainingjob',
            name='tensorboard_dir',
            field=models.CharField(blank=True, help_text="TensorBoard's log folder of the run (tensorboard --logdir).",
                                   max_length=500),
        ),
        migrations.AddField(
            model_name='trainingjob',
            name='tracking_url',
            field=models.CharField(blank=True, help_text='The MLflow or W&B run, where one is set.', max_length=500),
        ),
        migrations.AddField(
            model_name='trainingjob',
            name='resumed_from_step',
            field=models.PositiveIntegerField(blank=True, help_text="The checkpoint's step a retried run went on from.",
                                              null=True, validators=[django.core.validators.MinValueValidator(1),
                                                                     django.core.validators.MaxValueValidator(1000000)]),
        ),
    ]

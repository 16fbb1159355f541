"""A study published as a Hugging Face dataset: built by a worker (queue ``default``) into
a folder the researcher downloads as a .zip, and pushed to the Hub where asked."""

from django.db import models

from annotations.models.jobs import ChunkBase, JobBase

# The licences a researcher may publish under: Hub licence ids (the card's ``license``).
DATASET_LICENSES = (
    ("cc-by-4.0", "CC BY 4.0"),
    ("cc-by-sa-4.0", "CC BY-SA 4.0"),
    ("cc-by-nc-4.0", "CC BY-NC 4.0"),
    ("cc-by-nc-sa-4.0", "CC BY-NC-SA 4.0"),
    ("cc0-1.0", "CC0 1.0"),
    ("odc-by", "ODC-By"),
    ("mit", "MIT"),
    ("apache-2.0", "Apache 2.0"),
    ("other", "Other (state it in the card)"),
)
LICENSE_IDS = tuple(license_id for license_id, _ in DATASET_LICENSES)


class DatasetExportJob(JobBase):
    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="dataset_export_jobs")
    license = models.CharField(max_length=20, choices=DATASET_LICENSES)
    repo_id = models.CharField(max_length=200, blank=True,
                               help_text="The Hub dataset repository to push to (org/name); blank: no push.")
    private = models.BooleanField(default=True, help_text="Create the Hub repository private.")
    output_dir = models.CharField(max_length=500, blank=True, help_text="Where the worker wrote the dataset.")
    hub_url = models.CharField(max_length=500, blank=True, help_text="The pushed dataset's page on the Hub.")
    rows = models.JSONField(default=dict, blank=True, help_text="Rows written per split.")

    class Meta(JobBase.Meta):
        pass

    def __str__(self) -> str:
        return f"dataset export #{self.pk} ({self.license})"

    @property
    def summary(self) -> str:
        pushed = f" → {self.repo_id}" if self.repo_id else ""
        written = f": {sum(self.rows.values()):,} rows in {len(self.rows)} splits" if self.rows else ""
        return f"Hugging Face dataset, {self.license}{pushed}{written}"


class DatasetExportChunk(ChunkBase):
    job = models.ForeignKey(DatasetExportJob, on_delete=models.CASCADE, related_name="chunks")

    class Meta(ChunkBase.Meta):
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_dataset_export_chunk_per_index")]

from django.db import models


class Category(models.TextChoices):
    REACTIVE = "reactive", "Reactive"
    BALANCED = "balanced", "Balanced"
    PROACTIVE = "proactive", "Proactive"


class Case(models.Model):
    class Role(models.TextChoices):
        STUDY = "study", "Study case"
        PRACTICE = "practice", "Practice (onboarding, not counted)"
        GOLD = "gold", "Gold (mixed into queues, scored against the expected answers)"

    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        DEV = "dev", "Dev"
        TEST = "test", "Test"

    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="cases")
    external_id = models.CharField(max_length=200)
    task = models.CharField(max_length=64, db_index=True)
    category = models.CharField(max_length=10, choices=Category.choices, db_index=True)
    specialty = models.CharField(max_length=120, blank=True)
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TEST, db_index=True)
    split_assigned = models.BooleanField(default=False, help_text="The file gave no split: the import assigned "
                                                                  "one, stratified by task and gold label.")
    in_rating_sample = models.BooleanField(default=False, db_index=True,
                                           help_text="Drawn into the clinicians' rating sample.")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STUDY, db_index=True)
    # What a practice or gold case should get, keyed by response id: {"ratings": {id: {dimension: value}},
    # "ranks": {id: rank}, "explanation": markdown}. Any part may be left out.
    expected = models.JSONField(default=dict, blank=True)
    turns = models.JSONField()
    tables = models.JSONField(default=list, blank=True)
    images = models.JSONField(default=list, blank=True)
    question = models.TextField(null=True, blank=True)
    gold_behavior = models.CharField(max_length=10, choices=Category.choices)
    label_space = models.JSONField(default=list)
    gold_label = models.CharField(max_length=60)
    reference_response = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The problem the case plants ({"summary", "terms"}, see modeling/planted.py); {} on a
    # sound case. Scoring reads it to tell a flag that finds the problem from one that does not.
    planted_problem = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the imported JSON line.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "external_id"], name="unique_case_per_study")]
        indexes = [models.Index(fields=["study", "split"])]

    def __str__(self) -> str:
        return self.external_id

    def as_case_dict(self) -> dict:
        """The case in the modeling package's JSON format."""
        case = {
            "external_id": self.external_id, "task": self.task, "category": self.category,
            "specialty": self.specialty, "split": self.split, "turns": self.turns, "tables": self.tables,
            "images": self.images, "question": self.question, "gold_behavior": self.gold_behavior,
            "label_space": self.label_space, "gold_label": self.gold_label,
            "reference_response": self.reference_response, "metadata": self.metadata,
        }
        if self.planted_problem:
            case["planted_problem"] = self.planted_problem
        return case

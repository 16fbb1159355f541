"""Automatic judging: a judge job scores a study's responses with an LLM judge
(G-Eval, :mod:`modeling.judge`). Judge output is for researchers and admins only: no
clinician page ever reads these tables."""

from django.db import models

from annotations.models.jobs import ChunkBase, JobBase
from modeling.judge.scoring import debiased_preference, is_consistent


class JudgeJob(JobBase):
    class Kind(models.TextChoices):
        LOCAL = "local", "Local model"
        OPENAI = "openai", "OpenAI-compatible endpoint"

    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="judge_jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOCAL)
    model_ref = models.CharField(
        max_length=500, blank=True, help_text='Local: "demo", a Hugging Face directory or a .gguf file. '
                                              "OpenAI-compatible: the model name at the endpoint; blank: the "
                                              "worker's JUDGE_OPENAI_MODEL, read when the job runs.")
    adapter_path = models.CharField(max_length=500, blank=True, help_text="Local only: a LoRA adapter directory.")
    base_url = models.CharField(max_length=500, blank=True,
                                help_text="OpenAI-compatible only; blank: the JUDGE_OPENAI_BASE_URL setting. "
                                          "The API key is never stored: it comes from the settings.")
    dimensions = models.JSONField(default=list, help_text="The judge dimensions (full specs, as data).")
    pairwise = models.BooleanField(default=False, help_text="Also compare each case's responses pairwise, "
                                                            "in both orders (position swap).")
    planted = models.BooleanField(default=False, help_text="Also read whether each response to a case with a "
                                                           "planted problem names it (JudgePlantedReading).")
    params = models.JSONField(default=dict, blank=True,
                              help_text="n_samples, temperature, logprobs, top_logprobs, use_reference, "
                                        "token_budget, pairwise_dimensions...")
    selection = models.JSONField(default=dict, blank=True,
                                 help_text='Which responses: {"arm_ids": [...]}, the newest response of each of '
                                           'those arms to each test case; with "response_ids": [...], only those '
                                           "(of those arms).")
    response_count = models.PositiveIntegerField(default=0, editable=False, help_text="How many responses the selection covered "
                                                                      "when the job was queued.")
    judge_provenance = models.JSONField(default=dict, blank=True,
                                        help_text="What decided the judge's output (model hash, prompt version...).")
    analysis = models.JSONField(null=True, blank=True,
                                help_text="Judge scores per arm, densities and concordance with clinicians.")
    analysed_at = models.DateTimeField(null=True, blank=True)

    class Meta(JobBase.Meta):
        pass

    def __str__(self) -> str:
        return f"judge #{self.pk} ({self.model_shown})"

    @property
    def model_shown(self) -> str:
        """The model as named, else the one the worker resolved (or will)."""
        return self.model_ref or (self.judge_provenance or {}).get("model") or "JUDGE_OPENAI_MODEL"

    @property
    def summary(self) -> str:
        pairwise = ", pairwise" if self.pairwise else ""
        planted = ", planted-problem reading" if self.planted else ""
        return f"{self.model_shown} judging {len(self.dimensions)} dimensions{pairwise}{planted}"

    @property
    def dimension_keys(self) -> list[str]:
        return [d["key"] for d in self.dimensions]


class JudgeScore(models.Model):
    """One judge score of one response on one dimension, with its prompt and raw output."""

    job = models.ForeignKey(JudgeJob, on_delete=models.CASCADE, related_name="scores")
    response = models.ForeignKey("annotations.Response", on_delete=models.CASCADE, related_name="judge_scores")
    dimension = models.CharField(max_length=40, db_index=True)
    score = models.FloatField(null=True, blank=True, help_text="On the dimension's scale (1-5, or 0-1); "
                                                               "empty when the judge's answer was unreadable, "
                                                               "or when its request failed for good (method "
                                                               "error, raw_output's error).")
    judge_score = models.FloatField(null=True, blank=True, help_text="On the judge's own scale (e.g. 1-5).")
    method = models.CharField(max_length=20, help_text="logits, logprobs, emitted or samples; error when the "
                                                       "request failed for good (a prompt longer than the judge's "
                                                       "context)")
    distribution = models.JSONField(default=dict, blank=True, help_text="level -> probability")
    mass = models.FloatField(null=True, blank=True, help_text="Probability on the score tokens.")
    prompt = models.JSONField(default=dict)
    raw_output = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "response", "dimension"]
        constraints = [models.UniqueConstraint(fields=["job", "response", "dimension"],
                                               name="one_judge_score_per_dimension")]

    def __str__(self) -> str:
        return f"{self.dimension}={self.score}"


class JudgePlantedReading(models.Model):
    """The judge's reading of whether one response names its case's planted problem
    (:meth:`modeling.judge.Judge.planted_iter`), with its prompt and raw output. The
    automatic metrics can read ``named`` instead of the terms (``Study.planted_reading_job``)."""

    job = models.ForeignKey(JudgeJob, on_delete=models.CASCADE, related_name="planted_readings")
    response = models.ForeignKey("annotations.Response", on_delete=models.CASCADE,
                                 related_name="judge_planted_readings")
    prob_named = models.FloatField(null=True, blank=True, help_text="P(Yes), renormalised over Yes and No; empty "
                                                                    "when the judge's answer was unreadable.")
    named = models.BooleanField(null=True, blank=True, help_text="prob_named above one half; empty when undecided.")
    method = models.CharField(max_length=20, help_text="logits, logprobs or samples")
    mass = models.FloatField(null=True, blank=True, help_text="Probability on Yes and No.")
    prompt = models.JSONField(default=dict)
    raw_output = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "response"]
        constraints = [models.UniqueConstraint(fields=["job", "response"], name="one_planted_reading_per_response")]

    def __str__(self) -> str:
        return f"{self.response_id} named={self.named}"


class JudgeComparison(models.Model):
    """A pairwise comparison of two responses to one case, asked in both orders."""

    job = models.ForeignKey(JudgeJob, on_delete=models.CASCADE, related_name="comparisons")
    response_a = models.ForeignKey("annotations.Response", on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey("annotations.Response", on_delete=models.CASCADE, related_name="+")
    dimension = models.CharField(max_length=40, default="overall")
    prob_a_first = models.FloatField(null=True, blank=True, help_text="P(a preferred) with a shown first.")
    prob_a_second = models.FloatField(null=True, blank=True, help_text="P(a preferred) with a shown second.")
    method = models.CharField(max_length=20)
    prompt = models.JSONField(default=dict)
    raw_output = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "response_a", "response_b", "dimension"]
        constraints = [models.UniqueConstraint(fields=["job", "response_a", "response_b", "dimension"],
                                               name="one_judge_comparison_per_pair")]

    def __str__(self) -> str:
        return f"{self.response_a_id} vs {self.response_b_id} ({self.dimension})"

    @property
    def prob_a(self) -> float | None:
        return debiased_preference(self.prob_a_first, self.prob_a_second)

    @property
    def consistent(self) -> bool | None:
        """Same preference in both orders; None when either order gives none."""
        return is_consistent(self.prob_a_first, self.prob_a_second)


class JudgeChunk(ChunkBase):
    job = models.ForeignKey(JudgeJob, on_delete=models.CASCADE, related_name="chunks")

    class Meta(ChunkBase.Meta):
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_judge_chunk_per_index")]

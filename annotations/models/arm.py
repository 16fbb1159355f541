import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models

from annotations.errors import InvalidRequest
from annotations.model_refs import model_ref_check
from modeling.data import TRAINABLE_ARMS


def endpoint_url_check(value: str) -> None:
    """An http(s) base URL with a host; cluster host names without a dot (``gpu-7``,
    ``vllm``) are fine, which Django's URLValidator refuses."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or any(c.isspace() for c in value):
        raise ValidationError("Enter an http:// or https:// base URL, e.g. http://gpu-node:8000/v1.")


class ModelArm(models.Model):
    """A model configuration compared in studies: base model + optional adapter + prompting."""

    class Method(models.TextChoices):
        BASELINE = "baseline", "Baseline"
        FEWSHOT = "fewshot", "Few-shot (k=3)"
        INSTRUCTED = "instructed", "Instructed"
        GENERAL_SFT = "general_sft", "GeneralSFT"
        BEHAVIOR_SFT = "behavior_sft", "BehaviorSFT"

    name = models.CharField(max_length=120, unique=True)
    method = models.CharField(max_length=20, choices=Method.choices)
    base_model = models.CharField(max_length=500, blank=True, help_text=(
        'A Hugging Face directory, a .gguf file, or "demo" (for an endpoint arm: what the server serves, '
        "for the record)."))
    adapter_path = models.CharField(max_length=500, blank=True)
    # An endpoint arm is served by an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp,
    # a hosted API); its jobs run on the endpoint queue's CPU workers, not on a GPU.
    endpoint_url = models.CharField(max_length=500, blank=True, validators=[endpoint_url_check], help_text=(
        "Base URL of an OpenAI-compatible server, e.g. http://gpu-node:8000/v1. Blank: our workers load the model."))
    served_model = models.CharField(max_length=200, blank=True, help_text="The model name the server serves.")
    api_key_env = models.CharField(max_length=100, blank=True, help_text=(
        "Name of the environment variable on the worker that holds the API key (the key itself is never "
        "stored). Blank: EVALPORTAL_ENDPOINT_API_KEYS, then OPENAI_API_KEY."))
    max_concurrency = models.PositiveSmallIntegerField(default=8, help_text=(
        "Requests in flight at once per worker, for an endpoint arm (1 to 256)."))
    uses_behavior_tokens = models.BooleanField(default=False)
    prompt_template = models.CharField(max_length=40, blank=True, help_text="Prompt template version.")
    decoding_params = models.JSONField(default=dict, blank=True)
    checkpoint_hash = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_endpoint(self) -> bool:
        return bool(self.endpoint_url)

    def clean(self) -> None:
        if self.is_endpoint:
            self._clean_endpoint()
            return
        errors = {}
        for field, what, allow_demo in (("base_model", "base model", True), ("adapter_path", "adapter", False)):
            value = getattr(self, field)
            if value or field == "base_model":
                try:
                    model_ref_check(value, what=what, allow_demo=allow_demo)
                except InvalidRequest as exc:
                    errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)

    def _clean_endpoint(self) -> None:
        errors = {}
        if not self.served_model:
            errors["served_model"] = "An endpoint arm needs the name of the model the server serves."
        if self.adapter_path:
            errors["adapter_path"] = ("An endpoint arm cannot take an adapter: export the merged model "
                                      "(python -m modeling.export) and serve that.")
        if not 1 <= self.max_concurrency <= MAX_ENDPOINT_CONCURRENCY:
            errors["max_concurrency"] = f"Between 1 and {MAX_ENDPOINT_CONCURRENCY}."
        if self.api_key_env and not ENV_NAME.fullmatch(self.api_key_env):
            errors["api_key_env"] = "The name of an environment variable (letters, digits, underscores)."
        if errors:
            raise ValidationError(errors)


MAX_ENDPOINT_CONCURRENCY = 256
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# The methods a training job can train (the arm it makes gets the same method).
TRAINING_METHODS = [(value, label) for value, label in ModelArm.Method.choices if value in TRAINABLE_ARMS]

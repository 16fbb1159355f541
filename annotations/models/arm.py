from django.core.exceptions import ValidationError
from django.db import models

from annotations.endpoint_policy import api_key_env_problem, endpoint_url_format_problem, endpoint_url_problem
from annotations.errors import InvalidRequest
from annotations.model_refs import model_ref_check
from annotations.models import bounds
from modeling.data import TRAINABLE_ARMS

# The numbers an arm's default decoding may hold, and their bounds; the engine reads other
# keys by name, so they are left to it.
DECODING_BOUNDS = {"max_new_tokens": bounds.MAX_NEW_TOKENS, "temperature": bounds.TEMPERATURE, "top_p": bounds.TOP_P}


def decoding_params_check(value) -> None:
    """An arm's default decoding: an object whose numbers are within their bounds (a huge
    ``max_new_tokens`` would only fail on a worker, with a job running)."""
    if not isinstance(value, dict):
        raise ValidationError("Decoding parameters are a JSON object.")
    problems = []
    for key, limits in DECODING_BOUNDS.items():
        if key not in value:
            continue
        number, whole = value[key], key == "max_new_tokens"
        # NaN and infinities fail the range test too.
        if isinstance(number, bool) or not isinstance(number, int if whole else (int, float)) or number not in limits:
            problems.append(f"{key}: {'a whole number' if whole else 'a number'} from {limits.low} to {limits.high}")
    if "do_sample" in value and not isinstance(value["do_sample"], bool):
        problems.append("do_sample: true or false")
    if problems:
        raise ValidationError("; ".join(problems) + ".")


def endpoint_url_check(value: str) -> None:
    """The endpoint URL's form (:func:`~annotations.endpoint_policy.endpoint_url_format_problem`);
    where it points is checked by :meth:`ModelArm.clean`."""
    problem = endpoint_url_format_problem(value)
    if problem:
        raise ValidationError(problem)


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
        "stored), one that EVALPORTAL_ENDPOINT_KEYS lets this server use. Blank: no key is sent."))
    max_concurrency = models.PositiveSmallIntegerField(default=8, validators=bounds.ENDPOINT_CONCURRENCY.validators,
                                                       help_text=("Requests in flight at once per worker, for an "
                                                                  "endpoint arm (1 to 256)."))
    request_timeout_s = models.FloatField(
        null=True, blank=True, validators=bounds.ENDPOINT_TIMEOUT_S.validators,
        help_text=f"Seconds one request to an endpoint arm's server may take, waiting at the server included "
                  f"({bounds.ENDPOINT_TIMEOUT_S.low:g} to {bounds.ENDPOINT_TIMEOUT_S.high:g}; blank: the "
                  "EVALPORTAL_ENDPOINT_TIMEOUT_S setting).")
    max_retries = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=bounds.ENDPOINT_RETRIES.validators,
        help_text=f"Retries, with backoff, of a request to an endpoint arm's server that timed out, met a server "
                  f"error or could not connect ({bounds.ENDPOINT_RETRIES.low} to {bounds.ENDPOINT_RETRIES.high}; "
                  "blank: the EVALPORTAL_ENDPOINT_MAX_RETRIES setting).")
    uses_behavior_tokens = models.BooleanField(default=False)
    prompt_template = models.CharField(max_length=40, blank=True, help_text="Prompt template version.")
    decoding_params = models.JSONField(default=dict, blank=True, validators=[decoding_params_check])
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
        if not endpoint_url_format_problem(self.endpoint_url):
            problem = endpoint_url_problem(self.endpoint_url)
            if problem:
                errors["endpoint_url"] = problem
        problem = self.api_key_env and api_key_env_problem(self.api_key_env, self.endpoint_url)
        if problem:
            errors["api_key_env"] = problem
        if errors:
            raise ValidationError(errors)


# The methods a training job can train (the arm it makes gets the same method).
TRAINING_METHODS = [(value, label) for value, label in ModelArm.Method.choices if value in TRAINABLE_ARMS]

"""The bounds of every number a user can set, in one place. Model fields take them as
validators, so ModelForms, ModelSerializers and the Django admin refuse what is out of
range; plain form and serializer fields that mirror a model field or a job's settings
take the same bounds through ``limits``.

A number accepted here is one the code that reads it later can use: a timeout beyond a
few days overflows date arithmetic, a seed beyond 2^32 - 1 is refused by numpy, a 27th
arm has no letter on the rating page."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from modeling.params import SEED_RANGE, DecodingParams, EndpointParams, TrainParams, param_spec


def finite_check(value) -> None:
    """NaN passes every comparison, so a range alone would let it through."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("Enter a finite number.")


@dataclass(frozen=True)
class Bounds:
    low: int | float
    high: int | float

    @property
    def validators(self) -> list:
        """For a model field's ``validators``."""
        finite = [finite_check] if isinstance(self.low, float) else []
        return [*finite, MinValueValidator(self.low), MaxValueValidator(self.high)]

    @property
    def limits(self) -> dict:
        """For a form's or a serializer's number field."""
        return {"min_value": self.low, "max_value": self.high}

    def __contains__(self, value) -> bool:
        return self.low <= value <= self.high

    @classmethod
    def of(cls, params, name: str) -> Bounds:
        """The bounds :mod:`modeling.params` gives parameter ``name`` of ``params``."""
        spec = param_spec(params, name)
        return cls(spec.low, spec.high)


SEED = Bounds(*SEED_RANGE)

# A study.
RATERS_PER_ITEM = Bounds(1, 50)
GOLD_RATE = Bounds(0.0, 0.5)
ASSIGNMENT_TIMEOUT_MINUTES = Bounds(1, 7 * 24 * 60)
# One letter per response on the rating page, A to Z.
MAX_STUDY_ARMS = 26
# Responses a screen shows, where fewer than all the arms: two at the least (a comparison).
ARMS_PER_SCREEN = Bounds(2, MAX_STUDY_ARMS)
ARM_POSITION = Bounds(0, 999)

# An assignment, as the admin may correct it.
SQUARE_ROW = Bounds(0, MAX_STUDY_ARMS - 1)
QUEUE_POSITION = Bounds(0, 10_000_000)
ACTIVE_SECONDS = Bounds(0.0, 7 * 24 * 3600.0)

# What a worker records of a response.
TOKEN_COUNT = Bounds(0, 10_000_000)
LATENCY_SECONDS = Bounds(0.0, 24 * 3600.0)

# An endpoint arm's requests in flight per worker, each one's timeout and retries (the
# judge's are the same modeling.params.EndpointParams).
ENDPOINT_CONCURRENCY = Bounds.of(EndpointParams, "concurrency")
ENDPOINT_TIMEOUT_S = Bounds.of(EndpointParams, "timeout_s")
ENDPOINT_RETRIES = Bounds.of(EndpointParams, "max_retries")

# An arm's default decoding (a job's parameters, training's and the judge's take their
# bounds from modeling.params directly, through annotations/param_fields.py).
MAX_NEW_TOKENS = Bounds.of(DecodingParams, "max_new_tokens")
TEMPERATURE = Bounds.of(DecodingParams, "temperature")
TOP_P = Bounds.of(DecodingParams, "top_p")

# The optimizer step a resumed training went on from.
TRAINING_STEP = Bounds.of(TrainParams, "steps")

# The clinicians' rating sample.
RATING_SAMPLE_SIZE = Bounds(1, 1_000_000)

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


# Seeds reach numpy, which takes 0 to 2^32 - 1.
SEED = Bounds(0, 2**32 - 1)

# A study.
RATERS_PER_ITEM = Bounds(1, 50)
GOLD_RATE = Bounds(0.0, 0.5)
ASSIGNMENT_TIMEOUT_MINUTES = Bounds(1, 7 * 24 * 60)
# One letter per response on the rating page, A to Z.
MAX_STUDY_ARMS = 26
ARM_POSITION = Bounds(0, 999)

# An assignment, as the admin may correct it.
SQUARE_ROW = Bounds(0, MAX_STUDY_ARMS - 1)
QUEUE_POSITION = Bounds(0, 10_000_000)
ACTIVE_SECONDS = Bounds(0.0, 7 * 24 * 3600.0)

# What a worker records of a response.
TOKEN_COUNT = Bounds(0, 10_000_000)
LATENCY_SECONDS = Bounds(0.0, 24 * 3600.0)

# An endpoint arm's requests in flight per worker.
ENDPOINT_CONCURRENCY = Bounds(1, 256)

# Decoding (an arm's defaults, a generation job's own).
MAX_NEW_TOKENS = Bounds(1, 4096)
TEMPERATURE = Bounds(0.0, 2.0)
TOP_P = Bounds(0.0, 1.0)

# Training hyperparameters (modeling.train.TrainConfig).
EPOCHS = Bounds(0.1, 100.0)
STEPS = Bounds(1, 1_000_000)
LEARNING_RATE = Bounds(1e-7, 1e-1)
LORA_R = Bounds(1, 256)
LORA_ALPHA = Bounds(1, 4096)
LORA_DROPOUT = Bounds(0.0, 0.9)
TOKEN_LR = Bounds(1e-7, 1.0)
BATCH_SIZE = Bounds(1, 1024)
GRAD_ACCUM = Bounds(1, 1024)
MAX_LENGTH = Bounds(16, 131_072)
RATIO = Bounds(0.0, 1.0)
MAX_GRAD_NORM = Bounds(0.0, 10_000.0)

# How a judge is asked.
TOP_LOGPROBS = Bounds(1, 20)
JUDGE_SAMPLES = Bounds(1, 50)
JUDGE_CONCURRENCY = Bounds(1, 64)

# The clinicians' rating sample.
RATING_SAMPLE_SIZE = Bounds(1, 1_000_000)

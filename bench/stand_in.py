"""The stand-in generation engine of bench/scale.py, for that benchmark only: it answers
every case at once with a canned text, so that what the benchmark measures is what the
portal itself adds to generation (reading the chunk's cases, writing responses, progress,
chunk bookkeeping), never a model. A worker uses it when started with
``EVALPORTAL_GENERATION_ENGINE=bench.stand_in.stand_in_engine``."""

from __future__ import annotations

import zlib

from modeling.generate import GenerationResult

# Canned answers of the shapes real ones have: a flag, restraint, an option letter.
CANNED = (
    ("proactive", "Before we go on: the platelet count has halved since Monday; please check for HIT."),
    ("proactive", "Nothing to add; the plan looks sound."),
    ("reactive", "B. The pattern fits primary adrenal insufficiency."),
    ("balanced", "C, and please recheck the potassium before the next dose."),
)
BATCH = 256


class StandInEngine:
    def generate_iter(self, items, progress=None, should_stop=None, *, arm=None, fewshot_pool=None,
                      on_lasting_failure=None):
        items = list(items)
        for start in range(0, len(items), BATCH):
            if should_stop is not None and should_stop():
                return
            batch = []
            for item in items[start:start + BATCH]:
                behavior, text = CANNED[zlib.crc32(item["external_id"].encode()) % len(CANNED)]
                batch.append(GenerationResult(key=item["external_id"], text=text, raw_text=f"<|{behavior}|>{text}",
                                              predicted_behavior=behavior, prompt_tokens=0,
                                              completion_tokens=len(text.split()), latency_s=0.0))
            yield batch


def stand_in_engine(job):
    return StandInEngine(), {"engine": "bench/stand_in.py (canned text, no model)", "seed": job.seed}

"""The ``hf`` decoding backend (the CPU default): transformers' ``generate`` on each
batch."""

from __future__ import annotations

import torch


class HFGenerateBackend:
    """Decodes a padded batch for a :class:`~modeling.generate.engine.GenerationEngine`
    with ``model.generate``, reading the engine's decoding settings at each call."""

    def __init__(self, engine):
        self.engine = engine

    def release_memory(self) -> None:
        """Nothing is kept between batches."""

    def generation_config(self):
        from transformers import GenerationConfig

        engine = self.engine
        params = dict(max_new_tokens=engine.max_new_tokens, do_sample=engine.do_sample, num_beams=1,
                      repetition_penalty=1.0, pad_token_id=engine.pad_token_id, eos_token_id=engine.eos_token_ids,
                      disable_compile=True, use_cache=True)
        if engine.do_sample:
            params.update(temperature=engine.temperature, top_p=engine.top_p, top_k=engine.top_k)
        else:
            params.update(temperature=1.0, top_p=1.0, top_k=None)
        if engine.ignore_eos:
            params["min_new_tokens"] = engine.max_new_tokens
        return GenerationConfig(**params)

    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_number: int) -> torch.Tensor:
        """The new tokens of a left-padded batch, ``(batch, <= max_new_tokens)``."""
        engine = self.engine
        if engine.do_sample:
            torch.manual_seed(engine.seed + batch_number)
        output = engine.model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                       generation_config=self.generation_config())
        return output[:, input_ids.shape[1]:]

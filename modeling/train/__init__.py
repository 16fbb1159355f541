"""LoRA training of the GeneralSFT and BehaviorSFT arms, and ``python -m modeling.train``
(:mod:`modeling.train.cli`).

Both arms train the same LoRA adapter (all linear layers) on the same cases with the
loss on the assistant's tokens only. BehaviorSFT targets start with the case's gold
behavior token (``<|proactive|>``...), which is added to the vocabulary; its embedding
rows are trained through peft's ``trainable_token_indices`` (the input embeddings, and
the output embeddings too when they are not tied to them). GeneralSFT targets are the
reference responses alone, and its vocabulary is left as it was.

Training is seeded (LoRA initialisation, data order, dropout), runs in bf16 on CUDA and
fp32 on CPU, and writes the adapter, the tokenizer and ``manifest.json`` (base model
hash, data hash, hyper-parameters, package versions, loss history).
"""

from modeling.train.lora import (
    MANIFEST_FORMAT,
    TrainConfig,
    TrainResult,
    TrainStats,
    add_lora,
    causal_lm_loss,
    collate,
    count_parameters,
    embeddings_tied,
    planned_steps,
    run_training,
    set_seed,
    train_adapter,
)

__all__ = [
    "MANIFEST_FORMAT", "TrainConfig", "TrainResult", "TrainStats", "add_lora", "causal_lm_loss", "collate",
    "count_parameters", "embeddings_tied", "planned_steps", "run_training", "set_seed", "train_adapter",
]

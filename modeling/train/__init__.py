"""LoRA training of the GeneralSFT and BehaviorSFT arms with TRL's ``SFTTrainer`` and peft,
and ``python -m modeling.train`` (:mod:`modeling.train.cli`), alone or under ``accelerate
launch`` on several GPUs (:mod:`modeling.train.launch`).

Both arms train the same LoRA adapter (all linear layers) on the same cases with the
loss on the assistant's tokens only (:mod:`modeling.train.data`). BehaviorSFT targets
start with the case's gold behavior token (``<|proactive|>``...), which is added to the
vocabulary; its embedding rows are trained through peft's ``trainable_token_indices``
(the input embeddings, and the output embeddings too when they are not tied to them), at
their own learning rate. GeneralSFT targets are the reference responses alone, and its
vocabulary is left as it was.

Training is seeded (LoRA initialisation, data order, dropout), runs in bf16 on CUDA and
fp32 on CPU, checkpoints every ``save_steps`` and resumes from the newest checkpoint,
reports to TensorBoard (or MLflow, W&B) and writes the adapter, the tokenizer and
``manifest.json`` (base model hash, data hash, hyper-parameters, package versions, loss
history).
"""

from modeling.train.sft import (
    MANIFEST_FORMAT,
    TokenRateSFTTrainer,
    TrainConfig,
    TrainResult,
    count_parameters,
    embeddings_tied,
    lora_config,
    sft_config,
    train_adapter,
)

__all__ = [
    "MANIFEST_FORMAT", "TokenRateSFTTrainer", "TrainConfig", "TrainResult", "count_parameters", "embeddings_tied",
    "lora_config", "sft_config", "train_adapter",
]

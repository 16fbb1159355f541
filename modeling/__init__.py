"""Plain-Python ML core of evalportal: behavior tokens, BehaviorBench cases, LoRA
training, batched generation, metrics and the LLM judge. Never imports Django."""

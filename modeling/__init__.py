"""Plain-Python ML core of evalportal: behavior tokens, BehaviorBench cases, LoRA
training, batched generation and metrics. Never imports Django."""

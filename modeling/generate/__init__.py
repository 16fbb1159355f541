"""The batched generation engine and the ``python -m modeling.generate`` CLI.

:mod:`~modeling.generate.engine` tokenizes every prompt, packs the prompts into batches
within a token budget, and turns each batch's new tokens into results (the text shown to
clinicians, with no behavior token, and the behavior the model named). Each batch is
decoded by transformers' ``generate`` (its static KV cache, compiled on a GPU, on
request).

:mod:`~modeling.generate.endpoint` gives the same results from a model that an
OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, a hosted API) serves.

:mod:`~modeling.generate.cli` is the command line, writing resumable responses.jsonl
files.
"""

from modeling.generate.cli import main, response_row
from modeling.generate.endpoint import EndpointEngine, EndpointError
from modeling.generate.engine import GenerationEngine, GenerationResult

__all__ = ["EndpointEngine", "EndpointError", "GenerationEngine", "GenerationResult", "main", "response_row"]

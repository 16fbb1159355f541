"""What a failed request to an OpenAI-compatible server means for its prompt: each
server's wording of a prompt longer than the context, a logprobs refusal, another 400
(named by the server's error type and param, never its text), a refusal every request
would meet, and a passing failure."""

from __future__ import annotations

import pytest

from modeling.endpoint_policy import EndpointRefused
from modeling.endpoint_requests import answers_in_flight, request_failure

TOO_LONG = "This model's maximum context length is 2048 tokens. However, you requested 3158 tokens"


class StatusError(Exception):
    """As the openai client raises it: the status and the body's ``error`` object."""

    def __init__(self, status: int, body: dict):
        super().__init__(str(body))
        self.status_code, self.body = status, body


@pytest.mark.parametrize("body, detail", [
    ({"message": TOO_LONG + " (3142 in the messages, 16 in the completion).", "type": "invalid_request_error",
      "param": "messages", "code": "context_length_exceeded"}, " (3158 tokens asked, the context holds 2048)"),
    ({"code": 400, "message": "the request exceeds the available context size, try increasing it",
      "type": "exceed_context_size_error", "n_prompt_tokens": 3158, "n_ctx": 2048},
     " (3158 tokens asked, the context holds 2048)"),  # llama.cpp's server
    ({"object": "error", "message": TOO_LONG, "type": "BadRequestError", "param": None, "code": 400},
     " (3158 tokens asked, the context holds 2048)"),  # vLLM
    ({"message": "The decoder prompt (length 5000) is longer than the maximum model length of 4096.",
      "type": "BadRequestError"}, " (5000 tokens asked, the context holds 4096)"),  # newer vLLM
    ({"message": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096."}, ""),  # TGI
])
def test_a_prompt_longer_than_the_context_in_each_servers_words(body, detail):
    failure = request_failure("http://gpu-7:8000", StatusError(400, body))
    assert failure.kind == "context" and failure.lasting
    assert failure.message == f"http://gpu-7:8000: the prompt is longer than the model's context (HTTP 400){detail}"


def test_a_logprobs_refusal_another_400_and_what_ends_a_run():
    logprobs = request_failure("o", StatusError(400, {"message": "logprobs is not supported", "param": "logprobs"}))
    assert logprobs.kind == "logprobs" and logprobs.message == "o: the endpoint refuses logprobs (HTTP 400)"
    other = request_failure("o", StatusError(422, {"message": "ERR invalid password; AUTH default hunter2",
                                                   "type": "invalid_request_error", "param": "seed; drop"}))
    assert other.kind == "refused" and other.lasting
    assert other.message == "o: the endpoint refused the request (HTTP 422: invalid_request_error)"
    for status in (401, 403, 404):
        assert request_failure("o", StatusError(status, {"message": "hunter2"})).kind == "fatal"
    assert request_failure("o", EndpointRefused("10.0.0.1 is an internal address")).kind == "fatal"
    passing = request_failure("o", StatusError(503, {"message": "hunter2"}), retries=2)
    assert passing.kind == "transient" and not passing.lasting
    assert passing.message == "o: the endpoint answered HTTP 503 (after 2 retries)"


def test_answers_in_flight_hands_back_every_answer_once_and_stops_when_asked():
    seen = [pair for batch in answers_in_flight(lambda x: x * 10, list(range(7)), concurrency=3) for pair in batch]
    assert sorted(seen) == [(i, i * 10) for i in range(7)]
    asked = []
    stopped = [pair for batch in answers_in_flight(lambda x: asked.append(x) or x, list(range(7)), concurrency=1,
                                                   should_stop=lambda: len(asked) >= 2) for pair in batch]
    assert stopped == [(0, 0), (1, 1)] and asked == [0, 1]
    failing = [pair for batch in answers_in_flight(lambda x: None, list(range(20)), concurrency=2,
                                                   failed=lambda a: a is None, give_up_after=4) for pair in batch]
    assert 4 <= len(failing) <= 5  # the requests in flight when the fourth failure came still end

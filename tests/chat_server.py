"""Small servers on 127.0.0.1 that speak the OpenAI chat completions protocol, as vLLM,
SGLang, TGI, llama.cpp's server and hosted APIs do: one that answers as a judge
(:class:`FakeOpenAI`) and one that answers as a generating model (:class:`FakeChatModel`).
Both can be told to misbehave: answer a status (429, 500), answer slowly, drop the
connection, or go away; and to behave as llama.cpp's server does (llama-cpp-python
serving a GGUF): answer one request at a time (:attr:`ChatServer.serial`, each answer
taking :attr:`ChatServer.answer_s`), refuse a prompt longer than its context with a 400
(:attr:`ChatServer.context_tokens`, in the wording of :attr:`ChatServer.context_wording`),
ignore ``n`` (:attr:`ChatServer.honours_n`) and send no ``system_fingerprint``."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer:
    """The HTTP side. ``faults`` are taken one per request, in order: a status to answer
    (with a ``retry-after-ms`` header so clients retry at once), ``"slow"`` (answer after
    :attr:`slow_s`) or ``"drop"`` (close the connection unanswered). While :attr:`down`,
    every request is dropped: the server has gone away."""

    def __init__(self):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.faults: list[int | str] = []
        self.slow_s = 2.0
        self.down = False
        # llama.cpp's server: one request at a time, each taking answer_s; the others wait.
        self.serial = False
        self.answer_s = 0.0
        # A prompt of more tokens (words here) than this is refused with a 400.
        self.context_tokens: int | None = None
        self.context_wording = "openai"  # "openai" (and llama-cpp-python), "llama.cpp" or "vllm"
        self.honours_n = True
        self.system_fingerprint = True
        self._serial_lock = threading.Lock()
        self.answered = 0
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    fault = "drop" if server.down else (server.faults.pop(0) if server.faults else None)
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                self.in_flight = True
                try:
                    if server.serial:
                        with server._serial_lock:
                            self._reply(fault, body)
                    else:
                        self._reply(fault, body)
                finally:
                    self._leave()

            def _leave(self):
                """No longer in flight: counted before the answer goes out, since the
                client may send its next request the moment the answer arrives."""
                if self.in_flight:
                    self.in_flight = False
                    with server._lock:
                        server.in_flight -= 1

            def _reply(self, fault, body):
                if fault == "drop":
                    self._leave()
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "slow":
                    time.sleep(server.slow_s)
                if server.answer_s:
                    time.sleep(server.answer_s)
                too_long = server.context_refusal(body)
                if isinstance(fault, int):
                    status, payload = fault, {"error": {"message": f"status {fault}", "type": "server_error"}}
                elif too_long is not None:
                    status, payload = 400, too_long
                else:
                    status, payload = server.answer(body)
                    with server._lock:
                        server.answered += 1
                data = json.dumps(payload).encode()
                self._leave()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("retry-after-ms", "10")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, body: dict) -> tuple[int, dict]:
        raise NotImplementedError

    def context_refusal(self, body: dict) -> dict | None:
        """The 400 body a server sends for a prompt longer than its context, in its own
        words; None when the prompt fits."""
        asked = prompt_tokens(body)
        if self.context_tokens is None or asked + body.get("max_tokens", 0) <= self.context_tokens:
            return None
        n_ctx = self.context_tokens
        if self.context_wording == "llama.cpp":
            return {"error": {"code": 400, "message": "the request exceeds the available context size, try "
                                                      "increasing it", "type": "exceed_context_size_error",
                              "n_prompt_tokens": asked, "n_ctx": n_ctx}}
        message = (f"This model's maximum context length is {n_ctx} tokens. However, you requested "
                   f"{asked + body.get('max_tokens', 0)} tokens ({asked} in the messages, {body.get('max_tokens', 0)} "
                   f"in the completion). Please reduce the length of the messages or completion.")
        if self.context_wording == "vllm":
            return {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
        return {"error": {"message": message, "type": "invalid_request_error", "param": "messages",
                          "code": "context_length_exceeded"}}

    def completion(self, body: dict, choices: list[dict], completion_tokens: int) -> dict:
        out = _completion(body, choices, prompt_tokens(body), completion_tokens)
        if not self.system_fingerprint:
            del out["system_fingerprint"]
        return out


def prompt_tokens(body: dict) -> int:
    """The prompt's length as these servers count it: its words."""
    return sum(len(str(m.get("content") or "").split()) for m in body["messages"])


def _completion(body: dict, choices: list[dict], prompt_tokens: int, completion_tokens: int) -> dict:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": body["model"],
            "system_fingerprint": "fp-test", "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


class FakeChatModel(ChatServer):
    """Answers as a BehaviorSFT model served by vLLM would: a leading behavior token
    (``<|proactive|>`` when the conversation asks nothing, else ``<|reactive|>``), kept in
    the text only when the request says ``skip_special_tokens: false``; then a sentence
    that echoes the last words of the prompt, so each answer names its case. The model
    the server reports is :attr:`reported_model` (servers often name a path)."""

    def __init__(self, reported_model: str = "/models/behavior-sft-merged"):
        super().__init__()
        self.reported_model = reported_model

    def answer(self, body: dict) -> tuple[int, dict]:
        prompt = body["messages"][-1]["content"]
        token = "<|reactive|>" if "?" in prompt else "<|proactive|>"
        sentence = f"Noted: {' '.join(prompt.split()[-4:])}"
        text = (token + sentence) if body.get("skip_special_tokens") is False else sentence
        completion = self.completion(body, [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                             "message": {"role": "assistant", "content": text}}],
                                     len(sentence.split()) + 1)
        completion["model"] = self.reported_model
        return 200, completion


class FakeOpenAI(ChatServer):
    """A chat completions server speaking the OpenAI protocol. ``mode``:
    ``"logprobs"`` answers with top_logprobs; ``"plain"`` ignores logprobs and honours
    ``n``; ``"reject"`` answers 400 to a request with logprobs; ``"single"`` ignores
    both logprobs and ``n``. Sampled answers cycle through ``samples``."""

    def __init__(self, mode: str = "logprobs"):
        super().__init__()
        self.mode = mode
        self.samples = ["4", "Score: 5", "3/5", "I think 4.", "no idea"]
        self.top = {"1": -6.0, "2": -4.0, "3": math.log(0.1), "4": math.log(0.6), " 4": math.log(0.1),
                    "5": math.log(0.2)}
        self.choice_top = {"A": math.log(0.7), "B": math.log(0.3)}
        # Asked whether a response names the planted problem: Yes when it holds one of these.
        self.named_words: list[str] = []
        self.content: list[dict] | None = None  # logprobs content to answer with, when set
        self._cursor = 0

    def answer(self, body: dict) -> tuple[int, dict]:
        if self.mode == "reject" and body.get("logprobs"):
            return 400, {"error": {"message": "logprobs is not supported", "type": "invalid_request_error",
                                   "param": "logprobs", "code": None}}
        prompt = body["messages"][-1]["content"]
        wants_letter = "A or B" in prompt
        named = self._named(prompt) if "Yes or No" in prompt else None
        choices = []
        if self.mode == "logprobs" and body.get("logprobs"):
            top = self.choice_top if wants_letter else self.top
            if named is not None:
                top = {"Yes": math.log(0.9 if named else 0.2), "No": math.log(0.1 if named else 0.8)}
            best = max(top, key=top.get)
            content = self.content or [{"token": best, "logprob": top[best], "bytes": None,
                                        "top_logprobs": [{"token": t, "logprob": v, "bytes": None}
                                                         for t, v in top.items()][: body.get("top_logprobs", 0)]}]
            choices.append({"index": 0, "finish_reason": "stop", "logprobs": {"content": content},
                            "message": {"role": "assistant", "content": best}})
        else:
            n = 1 if self.mode == "single" or not self.honours_n else body.get("n", 1)
            for i in range(n):
                if named is not None:
                    text = "Yes, it does." if named else "no"
                elif wants_letter:
                    text = "A"
                elif body.get("logprobs"):  # asked for logprobs, answered without them
                    text = "4"
                else:
                    text = self.samples[self._cursor % len(self.samples)]
                    self._cursor += 1
                choices.append({"index": i, "finish_reason": "stop", "logprobs": None,
                                "message": {"role": "assistant", "content": text}})
        return 200, self.completion(body, choices, completion_tokens=1)

    def _named(self, prompt: str) -> bool:
        response = prompt.split("Response to evaluate:\n", 1)[1].rsplit("\n\nDoes the response", 1)[0]
        return any(word.lower() in response.lower() for word in self.named_words)

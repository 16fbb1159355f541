"""Where an endpoint's requests may go (modeling/endpoint_policy.py): internal addresses
told from public ones, a policy checked when the client is made and again on each
connection, keys only as the caller gives them, and a server's error told without its
body. Against chat servers on 127.0.0.1; no request leaves this machine."""

from __future__ import annotations

import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modeling import endpoint_policy
from modeling.endpoint_policy import AddressPolicy, EndpointRefused, is_internal, parse_key_origins, url_origin
from modeling.generate import EndpointEngine, EndpointError
from modeling.judge import DEFAULT_DIMENSIONS, JudgeError, OpenAIJudge, ScoreRequest
from tests.chat_server import FakeChatModel, FakeOpenAI

SECRET = "sk-the-worker-environment-holds"
CASE = {"external_id": "p-0", "task": "ddx_reasoning", "category": "reactive", "gold_behavior": "reactive",
        "turns": [{"speaker": "Dr. Lee", "role": "attending", "text": "Which diagnosis fits?"}],
        "question": "Which diagnosis fits?"}
NOTHING_INTERNAL = AddressPolicy(hint="allow it in the settings")
LOOPBACK_ONLY = AddressPolicy(allowed=(ipaddress.ip_network("127.0.0.0/8"),))


@pytest.fixture
def chat():
    with FakeChatModel() as server:
        yield server


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "10.0.0.1", "172.31.255.255", "192.168.1.1",
                                     "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
                                     "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1",
                                     "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "ff02::1"])
def test_internal_addresses_are_told_from_public_ones(address):
    assert is_internal(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_not_internal(address):
    assert not is_internal(address)


@pytest.mark.parametrize("value, allowed, refused", [
    ("1", ["127.0.0.1", "10.0.0.1", "::1"], []),
    ("", [], ["127.0.0.1", "10.0.0.1", "::1"]),
    ("0", [], ["127.0.0.1"]),
    ("10.0.5.0/24, 10.0.6.7", ["10.0.5.200", "10.0.6.7", "::ffff:10.0.5.3"], ["10.0.6.8", "127.0.0.1", "::1"]),
    ("::1", ["::1"], ["127.0.0.1"]),
])
def test_the_setting_names_the_internal_networks_endpoints_may_use(value, allowed, refused):
    policy = AddressPolicy.from_setting(value)
    assert [a for a in allowed if policy.refuses(a)] == []
    assert [a for a in refused if not policy.refuses(a)] == []
    assert not policy.refuses("8.8.8.8")


def test_a_setting_that_is_no_network_is_an_error():
    with pytest.raises(ValueError, match="not 1, 0 or a list of IP networks"):
        AddressPolicy.from_setting("yes please")


def test_an_answer_mixing_public_and_internal_addresses_is_refused_whole():
    with pytest.raises(EndpointRefused, match=r"rebound \(127.0.0.1\) is an internal address"):
        NOTHING_INTERNAL.check("rebound", ["93.184.216.34", "127.0.0.1"])


@pytest.mark.parametrize("url, origin", [
    ("https://API.example.com/v1", "https://api.example.com:443"),
    ("https://api.example.com:443/", "https://api.example.com:443"),
    ("http://gpu-7:8000/v1/", "http://gpu-7:8000"),
    ("http://[::1]:8000/v1", "http://[::1]:8000"),
    ("http://user:pw@gpu-7/v1", "http://gpu-7:80"),
])
def test_an_origin_is_scheme_host_and_port(url, origin):
    assert url_origin(url) == origin


def test_the_key_allow_list_maps_variables_to_origins():
    assert parse_key_origins('{"LAB": "http://gpu-7:8000/v1", "HOSTED": ["https://api.example.com/v1"]}') == {
        "LAB": ("http://gpu-7:8000",), "HOSTED": ("https://api.example.com:443",)}
    assert parse_key_origins("") == {}


@pytest.mark.parametrize("text, message", [
    ("[1]", "expected an object"), ("{", "not JSON"), ('{"A B": "http://x"}', "not the name"),
    ('{"A": []}', "a base URL or a list"), ('{"A": "gpu-7:8000"}', "not an http"), ('{"A": 5}', "a base URL"),
])
def test_a_bad_key_allow_list_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_key_origins(text)


# -- keys ------------------------------------------------------------------------------------------

def test_an_engine_given_no_key_sends_none_from_the_environment(chat, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", f"Authorization: Bearer {SECRET}")
    engine = EndpointEngine(chat.base_url, "m", None, max_retries=0, timeout=5)
    assert [len(b) for b in engine.generate_iter([CASE], arm="baseline")] == [1]
    assert chat.headers and all(SECRET not in str(h) for h in chat.headers)


def test_a_judge_given_no_key_sends_none_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAI() as server:
        judge = OpenAIJudge("judge-model", server.base_url, None, max_retries=0, timeout=5)
        judge.score([ScoreRequest("r", CASE, "Agree.", DEFAULT_DIMENSIONS[0])])
        assert server.headers and all(SECRET not in str(h) for h in server.headers)


def test_the_key_the_caller_gives_is_sent(chat):
    engine = EndpointEngine(chat.base_url, "m", "sk-given", max_retries=0, timeout=5)
    list(engine.generate_iter([CASE], arm="baseline"))
    assert chat.headers[-1]["authorization"] == "Bearer sk-given"


# -- addresses -------------------------------------------------------------------------------------

def test_an_engine_on_a_refused_address_asks_nothing(chat):
    with pytest.raises(EndpointRefused, match="127.0.0.1 is an internal address.*allow it in the settings"):
        EndpointEngine(chat.base_url, "m", "sk-given", address_policy=NOTHING_INTERNAL)
    with pytest.raises(EndpointRefused, match="internal address"):
        OpenAIJudge("judge-model", chat.base_url.replace("127.0.0.1", "localhost"), address_policy=NOTHING_INTERNAL)
    assert chat.requests == []


def test_an_allowed_address_is_reached_through_the_guarded_connections(chat):
    engine = EndpointEngine(chat.base_url.replace("127.0.0.1", "localhost"), "m", "sk-given", max_retries=0,
                            timeout=5, address_policy=LOOPBACK_ONLY)
    assert [len(b) for b in engine.generate_iter([CASE], arm="baseline")] == [1]
    assert chat.answered == 1


def test_a_host_that_resolves_elsewhere_by_the_time_of_the_connection_is_refused_then(chat, monkeypatch):
    """The name was public when the client was made; when the connection is made it
    points at this machine: the connection is refused and nothing reaches the server."""
    real = endpoint_policy.resolve
    answers = iter([["93.184.216.34"]])
    monkeypatch.setattr(endpoint_policy, "resolve", lambda host, port: next(answers, None) or real(host, port))
    engine = EndpointEngine(chat.base_url.replace("127.0.0.1", "localhost"), "m", "sk-given", max_retries=0,
                            timeout=5, address_policy=NOTHING_INTERNAL)
    with pytest.raises(EndpointError, match="internal address"):
        list(engine.generate_iter([CASE], arm="baseline"))
    assert chat.requests == []


class _Redirecting(BaseHTTPRequestHandler):
    """Answers every request with a redirect to ``target`` (a server on another address)."""

    target = ""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(307)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_redirect_to_a_refused_address_is_not_followed():
    """A server on an allowed address redirects to one the policy refuses (another
    loopback address): the redirect is not followed there."""
    target = FakeChatModel()
    target.server.server_close()
    target.server = ThreadingHTTPServer(("127.0.0.2", 0), target.server.RequestHandlerClass)
    target.thread = threading.Thread(target=target.server.serve_forever, daemon=True)
    handler = type("Handler", (_Redirecting,), {
        "target": f"http://127.0.0.2:{target.server.server_address[1]}/v1/chat/completions"})
    redirecting = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=redirecting.serve_forever, daemon=True).start()
    try:
        with target:
            engine = EndpointEngine(f"http://127.0.0.1:{redirecting.server_address[1]}/v1", "m", "sk-given",
                                    max_retries=0, timeout=5,
                                    address_policy=AddressPolicy(allowed=(ipaddress.ip_network("127.0.0.1/32"),)))
            with pytest.raises(EndpointError, match="127.0.0.2 is an internal address"):
                list(engine.generate_iter([CASE], arm="baseline"))
            assert target.requests == []
    finally:
        redirecting.shutdown()
        redirecting.server_close()


# -- errors ----------------------------------------------------------------------------------------

BODY = "ERR invalid password; AUTH default hunter2"


@pytest.mark.parametrize("status", [400, 401, 404, 500, 503])
def test_a_server_error_is_told_by_its_status_without_its_body(chat, status):
    chat.answer = lambda body: (status, {"error": {"message": BODY, "type": "server_error"}})
    engine = EndpointEngine(chat.base_url, "m", None, max_retries=0, timeout=5)
    with pytest.raises(EndpointError) as info:
        list(engine.generate_iter([CASE], arm="baseline"))
    origin = url_origin(chat.base_url)
    told = {400: f"1 of 1 prompts got no answer (p-0: {origin}: the endpoint refused the request (HTTP 400: "
                 f"server_error))",  # the prompt's own error: the server's type, never its text
            500: f"1 of 1 prompts got no answer (p-0: {origin}: the endpoint answered HTTP 500)",
            503: f"1 of 1 prompts got no answer (p-0: {origin}: the endpoint answered HTTP 503)"}
    assert str(info.value) == told.get(status, f"{origin}: the endpoint answered HTTP {status}")
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("status, logprobs", [(500, "auto"), (401, "auto"), (400, True), (400, False)])
def test_a_judge_server_error_is_told_by_its_status_without_its_body(status, logprobs):
    with FakeOpenAI() as server:
        server.answer = lambda body: (status, {"error": {"message": BODY, "type": "invalid_request_error"}})
        judge = OpenAIJudge("judge-model", server.base_url, None, max_retries=0, timeout=5, logprobs=logprobs)
        if status == 401:  # every request would meet it: the run ends
            with pytest.raises(JudgeError) as info:
                judge.score([ScoreRequest("r", CASE, "Agree.", DEFAULT_DIMENSIONS[0])])
            told = str(info.value)
            assert info.value.__cause__ is None
        else:  # that prompt's error
            [result] = judge.score([ScoreRequest("r", CASE, "Agree.", DEFAULT_DIMENSIONS[0])])
            told = result.error
            assert result.method == "error" and result.error_lasting == (status == 400)
        assert f"HTTP {status}" in told and "hunter2" not in told and "password" not in told


def test_a_timeout_is_told_as_a_timeout(chat):
    chat.faults, chat.slow_s = ["slow"], 2.0
    engine = EndpointEngine(chat.base_url, "m", None, max_retries=0, timeout=0.3)
    with pytest.raises(EndpointError, match="the request timed out"):
        list(engine.generate_iter([CASE], arm="baseline"))

"""JSON request bodies are read by one set of rules (``modeling.json_text``): whatever a
body holds that no column could keep, a key given twice, a nesting that would exhaust
the stack, a number JSON cannot carry or bytes that are not UTF-8 is a 400 that names
the problem, for every operation that takes a body and every role, anonymous included;
nothing is created, and no answer is a 500 or echoes text it could not encode."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from annotations.models import GenerationJob, JudgeJob, ModelArm, Study, TrainingJob

pytestmark = [pytest.mark.usefixtures("clean_broker"), pytest.mark.sqlite]

SURROGATE = "\\ud800"  # as JSON text: an escape no UTF-8 text can hold
BAD_BODIES = {
    "surrogate key": f'{{"{SURROGATE}": 1}}'.encode(),
    "surrogate text": f'{{"study": "{SURROGATE}"}}'.encode(),
    "NUL text": b'{"study": "ra\\u0000ted"}',
    "key twice": b'{"study": "rated", "study": "rated"}',
    "nested 5,000 deep": b"[" * 5000 + b"]" * 5000,
    "nested 40 deep": b'{"study": ' + b"[" * 40 + b"]" * 40 + b"}",
    "NaN": b'{"seed": NaN}',
    "out of range": b'{"seed": 1e999}',
    "not UTF-8": b'{"study": "\xff\xfe"}',
}


def _body_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(method.upper(), path) for path, item in schema["paths"].items() for method, operation in item.items()
            if method in ("post", "put", "patch") and "requestBody" in operation]


def _create_operations() -> list[tuple[str, str, list[str]]]:
    """(method, path, body keys) of each operation that makes something."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    out = []
    for path, item in schema["paths"].items():
        operation = item.get("post")
        if operation is None or "{" in path or "requestBody" not in operation:
            continue
        ref = operation["requestBody"]["content"]["application/json"]["schema"].get("$ref", "")
        keys = list(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
        out.append(("POST", path, keys))
    return out


def _counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Study, ModelArm, GenerationJob, TrainingJob, JudgeJob))


def _fill(path: str, world) -> str:
    return (path.replace("{slug}", world.study.slug).replace("{study_slug}", world.study.slug)
            .replace("{id}", str(world.gen_failed.pk)))


def _assert_refused_cleanly(answer, where: str) -> None:
    assert answer.status_code == 400, (where, answer.content[:300])
    detail = answer.json().get("detail", "")
    assert detail.startswith("JSON parse error") or "UTF-8" in detail
    detail.encode("utf-8")


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_every_create_operation_refuses_a_bad_body_and_makes_nothing(world, api_client_for, body):
    before = _counts()
    for method, path, _ in _create_operations():
        answer = api_client_for("admin").generic(method, path, body, content_type="application/json")
        _assert_refused_cleanly(answer, path)
    assert _counts() == before


@pytest.mark.parametrize("role", ["anonymous", "clinician", "researcher", "admin"])
@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_no_bad_body_reaches_a_server_error_on_any_operation(world, api_client_for, role, body):
    client = api_client_for(role)
    for method, path in _body_operations():
        answer = client.generic(method, _fill(path, world), body, content_type="application/json")
        assert answer.status_code < 500, (method, path, answer.status_code)
        answer.content.decode("utf-8")


def test_a_surrogate_in_any_key_of_any_create_body_is_refused(world, api_client_for):
    """Each key a create operation reads, given a lone surrogate in its text and as a
    key inside it (as ``decoding_params {"\\ud800": 1}`` was echoed into a message)."""
    before = _counts()
    client = api_client_for("admin")
    for method, path, keys in _create_operations():
        for key in keys:
            for value in (f'"{SURROGATE}"', f'{{"{SURROGATE}": 1}}', f'["{SURROGATE}"]'):
                body = f'{{"study": "rated", "{key}": {value}}}'.encode() if key != "study" else \
                    f'{{"study": {value}}}'.encode()
                _assert_refused_cleanly(client.generic(method, path, body, content_type="application/json"), path)
    assert _counts() == before


@pytest.mark.parametrize("body", [BAD_BODIES["nested 5,000 deep"], BAD_BODIES["surrogate key"],
                                  b'{"username": "a", "username": "b", "password": "x"}'])
def test_the_anonymous_token_endpoint_refuses_bad_bodies_with_400(db, api_client_for, body):
    answer = api_client_for("anonymous").generic("POST", "/api/token/", body, content_type="application/json")
    _assert_refused_cleanly(answer, "/api/token/")


def test_a_key_given_twice_is_named(world, api_client_for):
    answer = api_client_for("admin").generic("POST", "/api/generation-jobs/",
                                             b'{"study": "rated", "arm": 1, "arm": 2}', content_type="application/json")
    assert answer.status_code == 400 and "'arm' appears twice" in answer.json()["detail"]


def test_good_json_still_reaches_the_view(world, api_client_for):
    """The strict reader changes nothing for ordinary bodies: an arm is registered."""
    body = b'{"name": "plain-arm", "method": "baseline", "base_model": "demo", "decoding_params": {"top_p": 0.9}}'
    answer = api_client_for("admin").generic("POST", "/api/arms/", body, content_type="application/json")
    assert answer.status_code == 201, answer.content[:300]
    assert ModelArm.objects.get(name="plain-arm").decoding_params == {"top_p": 0.9}

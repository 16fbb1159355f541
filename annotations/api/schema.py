"""The OpenAPI schema documents every answer an operation can give, errors included (a
client generated from it, or schemathesis, expects no status it does not list)."""

from __future__ import annotations

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}}
ANSWERS = {
    "400": "Invalid input (a parameter or field of the wrong type or out of range, or naming things that do "
           "not fit together); `detail` or the field says why. Nothing changed.",
    "401": "No valid credentials: log in (session) or send `Authorization: Token <key>`.",
    "403": "Your role does not give access to this operation.",
    "404": "No such object (or none you may see), or a page past the last one.",
}
# Every write but taking a token acts on something whose state may forbid it (a study no
# longer a draft, a job already finished or still running).
WRITE_ANSWERS = {
    "409": "The request is well formed, but what it acts on is not in a state that allows it; `detail` says "
           "why. Nothing changed.",
}
TOKEN_ANSWERS = {
    "400": "Wrong or missing username or password.",
    "429": "Too many failed logins for this username from this address: try again later.",
}


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the error answers to every operation."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            # Taking a token answers only its own errors; the rest (revoking one) as any other.
            if path.endswith("/token/") and method == "post":
                answers = TOKEN_ANSWERS
            else:
                answers = {**ANSWERS, **(WRITE_ANSWERS if method == "post" else {})}
            responses = operation.setdefault("responses", {})
            for code, description in answers.items():
                responses.setdefault(code, {"description": description,
                                            "content": {"application/json": {"schema": ERROR}}})
    return result

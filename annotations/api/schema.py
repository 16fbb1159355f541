"""The OpenAPI schema documents every answer an operation can give, errors included (a
client generated from it, or schemathesis, expects no status it does not list)."""

from __future__ import annotations

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}}
ANSWERS = {
    "400": "Invalid input (a parameter or field of the wrong type or out of range), or a request the "
           "portal refuses; `detail` or the field says why. Nothing changed.",
    "401": "No valid credentials: log in (session) or send `Authorization: Token <key>`.",
    "403": "Your role does not give access to this operation.",
    "404": "No such object (or none you may see), or a page past the last one.",
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
            answers = TOKEN_ANSWERS if path.endswith("/token/") and method == "post" else ANSWERS
            responses = operation.setdefault("responses", {})
            for code, description in answers.items():
                responses.setdefault(code, {"description": description,
                                            "content": {"application/json": {"schema": ERROR}}})
    return result

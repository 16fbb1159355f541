"""What this deployment lets an endpoint (an endpoint arm's server, an OpenAI-compatible
judge) be and have: the internal addresses it may be on (``EVALPORTAL_ENDPOINT_ALLOW_PRIVATE``)
and the API keys it may be sent (``EVALPORTAL_ENDPOINT_KEYS``). Checked when an endpoint is
named (an arm registered, a judge job queued) and again by the worker, which also checks
each connection it makes (:mod:`modeling.endpoint_policy`, where the rules are written)."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from django.conf import settings

from annotations.errors import InvalidRequest
from modeling.endpoint_policy import ENV_NAME, AddressPolicy, EndpointRefused, url_origin

ALLOW_PRIVATE_HINT = "set EVALPORTAL_ENDPOINT_ALLOW_PRIVATE to the networks endpoints may use"


def address_policy() -> AddressPolicy:
    """The internal addresses endpoints may be on, from the setting (networks; True for
    all, False for none, or the setting's text)."""
    value = settings.EVALPORTAL_ENDPOINT_ALLOW_PRIVATE
    if value is True or value is False or value is None or isinstance(value, str):
        text = {True: "1", False: "0", None: "0"}.get(value, value)
        return AddressPolicy.from_setting(text, hint=ALLOW_PRIVATE_HINT)
    return AddressPolicy(allowed=tuple(ipaddress.ip_network(n) for n in value), hint=ALLOW_PRIVATE_HINT)


def endpoint_url_format_problem(value: str) -> str | None:
    """Why ``value`` is not an endpoint's base URL: http(s) with a host, no query or
    fragment, no credentials (a key goes in a variable: ``api_key_env``). Cluster host
    names without a dot (``gpu-7``, ``vllm``) are fine, which Django's URLValidator refuses."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or any(c.isspace() for c in value):
        return "Enter an http:// or https:// base URL, e.g. http://gpu-node:8000/v1."
    if parts.username is not None or parts.password is not None:
        return ("Put no user or password in the URL: the key is read on the worker from the variable the arm "
                "names (api_key_env).")
    return None


def endpoint_url_problem(value: str) -> str | None:
    """Why requests may not go to ``value``: its form, or an internal address the
    deployment does not allow (the host is resolved now)."""
    problem = endpoint_url_format_problem(value)
    if problem:
        return problem
    try:
        address_policy().check_url(value)
    except EndpointRefused as exc:
        return str(exc)
    return None


def key_origins(name: str) -> tuple[str, ...]:
    """The origins the key in variable ``name`` may be sent to."""
    return tuple(settings.EVALPORTAL_ENDPOINT_KEYS.get(name, ()))


def api_key_env_problem(name: str, url: str) -> str | None:
    """Why an endpoint at ``url`` may not be sent the key in variable ``name``."""
    if not ENV_NAME.fullmatch(name):
        return "The name of an environment variable (letters, digits, underscores)."
    origins = key_origins(name)
    if not origins:
        listed = ", ".join(sorted(settings.EVALPORTAL_ENDPOINT_KEYS)) or "none"
        return (f"{name} is not a variable this deployment lets endpoints use (EVALPORTAL_ENDPOINT_KEYS lists "
                f"{listed}).")
    try:
        origin = url_origin(url)
    except ValueError:
        return None  # the URL's own error says what is wrong
    if origin not in origins:
        return f"{name} may only be sent to {', '.join(origins)}, not to {origin} (EVALPORTAL_ENDPOINT_KEYS)."
    return None


def endpoint_key(name: str, url: str) -> str | None:
    """On the worker: the key an endpoint at ``url`` gets from the variable ``name``
    (none for a blank name). InvalidRequest when the deployment does not let that key
    go there, whatever the row that names it says, or when the variable is unset here."""
    if not name:
        return None
    problem = api_key_env_problem(name, url)
    if problem:
        raise InvalidRequest(problem)
    value = os.environ.get(name)
    if not value:
        raise InvalidRequest(f"{name} is not set on this worker: no key to send to {url_origin(url)}.")
    return value

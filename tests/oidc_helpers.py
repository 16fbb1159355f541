"""A real OpenID Connect provider for the hospital sign-in tests (tests/oidc_provider/
server.mjs, oidc-provider under node), and its sign-in pages walked through with requests."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "oidc_provider" / "server.mjs"
CALLBACK_PATH = "/accounts/hospital/callback/"
CLIENT_ID = "evalportal-tests"
CLIENT_SECRET = "a-test-only-client-secret-long-enough-for-hs256"


@dataclass(frozen=True)
class Provider:
    issuer: str

    def settings(self, **extra) -> dict:
        """The portal's settings for signing in with this provider (override_settings)."""
        return {"OIDC_RP_CLIENT_ID": CLIENT_ID, "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
                "OIDC_OP_DISCOVERY_URL": f"{self.issuer}/.well-known/openid-configuration",
                "OIDC_RP_SCOPES": "openid email profile groups",
                "EVALPORTAL_OIDC_LABEL": "Sign in with St Mary's",
                "EVALPORTAL_OIDC_ROLE_CLAIMS": {"clinician": ("groups", "clinicians")}, **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_provider(redirect_uris: list[str]):
    """Starts the provider on a free port, for a client that may return to ``redirect_uris``;
    yields once its discovery document answers, stops it after."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("node and oidc-provider are needed: `make system-deps node-deps` installs them")
    port = _free_port()
    env = {**os.environ, "OIDC_TEST_PORT": str(port), "OIDC_TEST_CLIENT_ID": CLIENT_ID,
           "OIDC_TEST_CLIENT_SECRET": CLIENT_SECRET, "OIDC_TEST_REDIRECT_URIS": ",".join(redirect_uris)}
    process = subprocess.Popen([node, str(SERVER)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        for line in process.stdout:  # it prints "listening <issuer>" once the port is open
            if line.startswith("listening "):
                issuer = line.split()[1]
                break
        else:
            pytest.fail(f"the OpenID Connect provider did not start (exit {process.wait()})")
        requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).raise_for_status()
        yield Provider(issuer)
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def provider_sign_in(authorization_url: str, login: str, portal_origin: str) -> str:
    """Walks the provider's login and consent pages as ``login`` would; returns the URL it
    sends the browser back to on the portal (``portal_origin``)."""
    browser = requests.Session()
    url, answer = authorization_url, None
    for _ in range(12):
        if url.startswith(portal_origin):
            return url
        answer = browser.get(url, allow_redirects=False, timeout=10)
        if answer.is_redirect:
            url = urljoin(url, answer.headers["Location"])
            continue
        form = _FORM.search(answer.text)
        assert form, f"the provider's page has no form: {answer.status_code} {answer.text[:500]}"
        fields = {name: unescape(value) for name, value in _HIDDEN.findall(form.group(2))}
        if fields.get("prompt") == "login":
            fields.update(login=login, password="any")
        answer = browser.post(urljoin(url, unescape(form.group(1))), data=fields, allow_redirects=False,
                              timeout=10)
        assert answer.is_redirect, f"{answer.status_code} {answer.text[:500]}"
        url = urljoin(url, answer.headers["Location"])
    raise AssertionError(f"the provider never sent the browser back: last at {url}")

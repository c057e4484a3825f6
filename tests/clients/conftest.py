"""Starts a real chorus server (the binary in CHORUS_BIN) for the client suites."""

import json
import os
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from chorus_process import ChorusProcess  # noqa: E402


def _post(url, body, token=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture(scope="session")
def server():
    chorus = ChorusProcess(prefix="chorus-clients-")
    yield chorus.url
    chorus.stop()


@pytest.fixture(scope="session")
def account(server):
    api = f"{server}/api/v1"
    _post(f"{api}/auth/register", {"username": "sdk", "email": "sdk@example.com", "password": "sdk-password"})
    login = _post(f"{api}/auth/login", {"email": "sdk@example.com", "password": "sdk-password"})
    return {"api": api, "access": login["access_token"]}


@pytest.fixture
def api_key(account):
    made = _post(f"{account['api']}/api-keys", {"name": "sdk"}, account["access"])
    return made


def delete_key(account, key_id):
    req = urllib.request.Request(f"{account['api']}/api-keys/{key_id}", method="DELETE")
    req.add_header("authorization", f"Bearer {account['access']}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204

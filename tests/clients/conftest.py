"""Starts a real chorus server (the binary in CHORUS_BIN) for the client suites."""

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import urllib.request

import pytest


def _post(url, body, token=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("CHORUS_BIN", "target/debug/chorus")
    data_dir = tempfile.mkdtemp(prefix="chorus-clients-")
    env = dict(os.environ, CHORUS__LOG__FORMAT="text", CHORUS__RATE_LIMITS__AUTH="1000")
    proc = subprocess.Popen(
        [binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    found = threading.Event()
    address = {}

    def read():
        for line in proc.stdout:
            m = re.search(r"listening on (http://\S+)", line)
            if m and not found.is_set():
                address["url"] = m.group(1)
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(60):
        proc.kill()
        raise RuntimeError("chorus did not start")
    yield address["url"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


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

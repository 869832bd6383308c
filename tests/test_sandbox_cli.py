"""`scowspec sandbox --portal 0.5.4|main --token-idle-seconds S`: the command line reaches the sandbox it starts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from scowspec.portal.profile import Generation, generation_from_openapi

from .conftest import ROOT, TOKEN


def _get(url: str) -> tuple[int, object]:
    req = urllib.request.Request(url, headers={"x-scow-api-auth-token": TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


@pytest.mark.parametrize("portal", [pytest.param(g, id=f"portal-{g.value}") for g in Generation])
def test_sandbox_command_models_the_chosen_portal_and_token_expiry(portal: Generation, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scowspec", "sandbox", "--port", "0", "--state", str(tmp_path / "s.db"),
         "--portal", portal.value, "--token-idle-seconds", "1"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "compiler")},
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        found = re.search(r"(http://\S+/ai)", banner)
        assert found and f"(portal {portal.value}," in banner, banner
        url = found.group(1)
        status, doc = _get(f"{url}/api/openapi.json")
        assert status == 200 and generation_from_openapi(doc) is portal
        assert _get(f"{url}/api/auth/userInfo")[0] == 200
        time.sleep(1.5)
        assert _get(f"{url}/api/auth/userInfo")[0] == 401, "the login token expired after 1 s unused"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_sandbox_refuses_an_unknown_portal(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "scowspec", "sandbox", "--portal", "0.4", "--state", str(tmp_path / "s.db")],
        env={**os.environ, "PYTHONPATH": str(ROOT / "compiler")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 64 and "0.5.4" in r.stderr and "main" in r.stderr

"""Stoplight Prism in proxy mode between a connector and a fake: traffic checked against a spec.

`prism proxy --errors SPEC UPSTREAM` forwards each request to the fake and validates the request
and the fake's response against the vendor's published OpenAPI/Swagger document; with `--errors`
a violation turns into an error response, so a payload the real vendor would reject fails the
test instead of passing silently. Prism is installed by `./dev test` into .tools/prism.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
VENDOR_SPECS = REPO / "tests" / "vendor_specs"
PRISM_VERSION = "5.14.2"


def prism_executable() -> str:
    """Path of the prism CLI; the test fails (never skips) when it is not installed."""
    installed = REPO / ".tools/prism/node_modules/.bin/prism"
    candidates = [os.environ.get("CRMHUB_PRISM"), str(installed)]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("prism")
    if found:
        return found
    pytest.fail(
        "Stoplight Prism is required to check REST traffic against the vendors' specs and is not "
        "installed: run the tests with ./dev test, which installs it into .tools/prism"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prism_proxy(spec: Path, upstream: str, *, startup_timeout: float = 60.0) -> Iterator[str]:
    """Run `prism proxy --errors spec upstream` on a free port; yields its base URL."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="prism-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [
            prism_executable(),
            "proxy",
            "--errors",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            str(spec),
            upstream,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(process, port, startup_timeout, Path(log.name))
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        Path(log.name).unlink(missing_ok=True)


def _wait_until_listening(
    process: subprocess.Popen[bytes], port: int, timeout: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prism exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            requests.get(f"http://127.0.0.1:{port}/__prism_ready__", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"prism did not listen on {port} within {timeout} s: {log.read_text()[-2000:]}")

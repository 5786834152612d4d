"""Issue 21, holes 9 and 10: hostile workspaces, ReqIF bombs and foreign Host headers.

Every malformed workspace must end with exit 1 (findings) or 2 (one line naming file,
line and field): no traceback, no hang, bounded memory."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_files

MLE3 = [sys.executable, "-c", "from mle3.cli import run; run()"]
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


# ---------------------------------------------------------------------- 10: serve and Host
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, host_header: str, path: str = "/api/runs") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host_header)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_serve_refuses_a_foreign_host_header(tmp_path):
    """A DNS-rebinding page sends ``Host: evil.example:PORT`` to 127.0.0.1: refused (421)
    before any run is read; the served address, its loopback names and --allow-host work."""
    pytest.importorskip("uvicorn")
    root = write_files(tmp_path / "ws", {"mle3.yaml": "project: serve\n"})
    port = _free_port()
    server = subprocess.Popen(MLE3 + ["serve", "--port", str(port), "--allow-host", "mle3.lab.example", "-w", str(root)],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "mle3 serve:" in server.stdout.readline()
        deadline = time.time() + 20
        while True:
            try:
                status, _ = _get(port, f"127.0.0.1:{port}")
                break
            except OSError:
                assert time.time() < deadline, "server did not start"
                time.sleep(0.2)
        assert status == 200
        for good in (f"localhost:{port}", f"[::1]:{port}", "mle3.lab.example", f"MLE3.lab.example:{port}"):
            assert _get(port, good)[0] == 200, good
        for bad in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", "", f"mle3.lab.example.evil:{port}"):
            status, body = _get(port, bad)
            assert status == 421 and b"Host" in body and b"runs" not in body, bad
        assert _get(port, f"evil.example:{port}", "/")[0] == 421
    finally:
        server.terminate()
        server.wait(10)


def test_allowed_hosts_for_each_kind_of_bound_address():
    from mle3.serve.hosts import allowed_hosts

    assert allowed_hosts("127.0.0.1", 8000) == {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert "[::1]:9000" in allowed_hosts("::1", 9000)
    remote = allowed_hosts("10.1.2.3", 8000, ["box.lan", "proxy.example:443", "fe80::1"])
    assert {"10.1.2.3:8000", "box.lan", "box.lan:8000", "proxy.example:443", "[fe80::1]", "[fe80::1]:8000"} == remote
    assert "localhost:8000" not in remote
    assert "localhost:80" in allowed_hosts("0.0.0.0", 80) and "localhost" in allowed_hosts("0.0.0.0", 80)

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
    import uvicorn  # noqa: F401  (the test extra: missing is a failure, never a skip)

    root = write_files(tmp_path / "ws", {"mle3.yaml": "project: serve\n"})
    port = _free_port()
    server = subprocess.Popen(
        MLE3 + ["serve", "--port", str(port), "--allow-host", "mle3.lab.example", "-w", str(root)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
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
        for bad in (
            f"evil.example:{port}",
            "evil.example",
            f"127.0.0.1:{port + 1}",
            "",
            f"mle3.lab.example.evil:{port}",
        ):
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


# ---------------------------------------------------------------------- 9: ReqIF bombs
def reqifz_bomb(path: Path, megabytes: int = 1024, declared: int | None = None) -> Path:
    """A ``.reqifz`` whose entry unpacks to ``megabytes`` MiB (about 1 KB on disk per MiB):
    one deflate block of a MiB of spaces, flushed so that it repeats byte for byte.
    ``declared`` writes a lying uncompressed size into the headers."""
    import struct
    import zlib

    head = b'<?xml version="1.0"?>\n<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd">'
    chunk = b" " * (1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    data = first + block * megabytes + c.flush()
    crc = zlib.crc32(head)
    for _ in range(megabytes):
        crc = zlib.crc32(chunk, crc)
    size = len(head) + megabytes * len(chunk) if declared is None else declared
    name = b"r.reqif"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0) + name
    central = (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0, 0, 0, 0, 0, 0
        )
        + name
    )
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)
    return path


#: the child's own peak: VmHWM belongs to its address space, which exec made new
#: (ru_maxrss is kept across fork and exec, so it would report the pytest process's peak)
PEAK = """
import sys
from mle3.cli import main
code = main(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("PEAK", int(hwm.split()[1]) // 1024, file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("declared", [None, 4096, 60 * 1024 * 1024])
def test_reqifz_bomb_is_refused_in_bounded_memory(tmp_path, declared):
    """A 1 MB .reqifz that unpacks to 1 GiB (honest header, or one that lies small) is
    refused with one line, exit 2, without ever holding more than the limit."""
    import reqif  # noqa: F401  (the test extra: missing is a failure, never a skip)

    root = write_files(tmp_path / "ws", {"mle3.yaml": "project: bomb\n"})
    bomb = reqifz_bomb(tmp_path / "bomb.reqifz", 1024, declared)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, "reqif", "import", str(bomb), "-w", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("PEAK")]
    peak_mib = int(proc.stderr.split("PEAK")[1])
    assert proc.returncode == 2 and len(lines) == 1 and "bomb.reqifz" in lines[0] and "Traceback" not in proc.stderr, (
        proc.stderr
    )
    assert (
        ("larger than 64 MiB" in lines[0])
        if declared is None
        else ("larger than 64 MiB" in lines[0] or "not a valid .reqifz" in lines[0])
    )
    assert peak_mib < 400, f"peak {peak_mib} MiB"
    assert not (root / "requirements").exists()


def test_large_plain_reqif_is_refused_before_reading(tmp_path):
    import reqif as reqif_package  # noqa: F401  (the test extra: missing is a failure, never a skip)
    from mle3.errors import Mle3Error
    from mle3.interop import reqif

    big = tmp_path / "big.reqif"
    with open(big, "wb") as fh:
        fh.truncate(reqif.MAX_REQIF_BYTES + 1)
    with pytest.raises(Mle3Error, match="larger than 64 MiB"):
        reqif._read_documents(big)


def test_reqif_in_another_encoding_or_with_a_late_doctype_is_refused(cli, tmp_path):
    import reqif  # noqa: F401  (the test extra: missing is a failure, never a skip)

    root = write_files(tmp_path / "ws", {"mle3.yaml": "project: enc\n"})
    utf16 = tmp_path / "utf16.reqif"
    utf16.write_bytes(
        '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE r [<!ENTITY a "aaaa">]>\n<REQ-IF>&a;</REQ-IF>'.encode(
            "utf-16"
        )
    )
    code, _, err = cli("reqif", "import", utf16, "-w", root, expect=2)
    assert code == 2 and "UTF-8" in err and err.count("\n") == 1
    late = tmp_path / "late.reqif"
    late.write_text(
        '<?xml version="1.0"?>\n<!--'
        + " " * 5000
        + '-->\n<!DOCTYPE r SYSTEM "http://evil.example/x.dtd">\n<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"/>'
    )
    code, _, err = cli("reqif", "import", late, "-w", root, expect=2)
    assert code == 2 and "DOCTYPE" in err and err.count("\n") == 1, err


# ---------------------------------------------------------------------- 9: malformed workspaces
from hostile_corpus import CASES, COMMANDS  # noqa: E402

#: cases that are valid YAML and valid items after all (a BOM, UTF-16 with its BOM, an
#: empty file, base64 that decodes to nothing): ``check`` may pass them
ACCEPTED = {"utf-8-bom", "utf-16", "empty", "bad-binary"}
#: cases that must be refused in a separate process: they once hung, crashed the
#: interpreter or took gigabytes
BOUNDED = {
    "deep-brackets",
    "deep-braces",
    "deep-config",
    "alias-bomb",
    "alias-bomb-config",
    "alias-bomb-in-item",
    "huge-file",
    "huge-config",
}


def corpus_ws(base: Path, name: str) -> Path:
    from conftest import BASE_FILES

    root = write_files(base / name, dict(BASE_FILES))
    for rel, content in CASES[name].items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def _args(cmd: list[str], root: Path) -> list[str]:
    out = ["-o", str(root / "out" / cmd[0])] if cmd[0] in ("report", "site") else []
    return [*cmd, "-w", str(root), *out]


def _assert_clean(name: str, cmd: list[str], code: int, err: str) -> None:
    assert "Traceback" not in err, f"{name} {cmd[0]}: {err[-2000:]}"
    if cmd[0] == "check" and name not in ACCEPTED:
        assert code in (1, 2), f"{name}: check passed a malformed workspace"
    assert code in (0, 1, 2), (name, cmd, code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, f"{name} {cmd[0]}: {err}"


@pytest.fixture(scope="module")
def built_once():
    """Typer rebuilds the click command (inspecting every signature) on each call, 0.4 s;
    the corpus runs hundreds of commands, so build it once for this module."""
    import functools

    import typer.main

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(typer.main, "get_command", functools.lru_cache(maxsize=None)(typer.main.get_command))
        yield


@pytest.mark.parametrize("name", sorted(set(CASES) - BOUNDED))
def test_malformed_workspace_never_crashes_a_command(tmp_path, cli, built_once, name):
    import json

    root = corpus_ws(tmp_path, name)
    for cmd in COMMANDS:
        code, out, err = cli(*_args(cmd, root), expect=None)
        _assert_clean(name, cmd, code, err)
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=None)
    if code != 2:
        for finding in json.loads(out).get("findings", []):
            assert finding.get("file") and finding.get("line"), finding


LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from mle3.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_bombs_and_deep_nesting_end_in_time_within_2_gb(tmp_path, name):
    root = corpus_ws(tmp_path, name)
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED, "check", "-w", str(root)], capture_output=True, text=True, timeout=60, env=ENV
    )
    _assert_clean(name, ["check"], proc.returncode, proc.stderr)
    said = proc.stdout + proc.stderr
    assert any(m in said for m in ("nested deeper than", "alias bomb", "larger than 20 MiB")), said[-1000:]

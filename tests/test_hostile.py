"""Hostile and broken input: fuzzed item files, bombs, paths leaving the workspace, URLs
in documents, template escapes, a full disk. Each case is tried for real."""

from __future__ import annotations

import errno
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BASE_FILES, require_weasyprint, write_files

from mle3 import audit, load_workspace, run_checks
from mle3.workspace.load import parse_file

KEYS = [
    "requirement",
    "requirements",
    "dataset",
    "training",
    "model_version",
    "augmentation",
    "run",
    "architecture",
    "id",
    "version",
    "epochs",
    "criteria",
    "metric",
    "min",
    "splits",
    "traceability",
    "previous_version",
    "optimizer",
    "lr",
    "status",
    "&a",
    "*a",
    "<<",
]


def yaml_fragments():
    scalar = st.one_of(
        st.integers(-5, 10**6),
        st.floats(allow_nan=True),
        st.text(max_size=12),
        st.sampled_from(["", "~", "null", "yes", "[", "{", "- ", ": ", "'", '"', "\t", "\\x00"]),
    )
    line = st.tuples(st.integers(0, 6), st.sampled_from(KEYS), scalar).map(lambda t: " " * t[0] + f"{t[1]}: {t[2]}")
    return st.lists(st.one_of(line, st.text(max_size=40)), min_size=1, max_size=25).map("\n".join)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(text=yaml_fragments())
def test_fuzzed_item_files_never_crash_and_always_have_a_location(tmp_path, text):
    write_files(tmp_path, {"mle3.yaml": "project: fuzz\n"})
    path = tmp_path / "artifacts" / "f.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text)
    ws = load_workspace(tmp_path, use_cache=False)
    report = run_checks(ws)
    for f in report.findings:
        assert f.file and f.line, f.one_line()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_valid_files_never_crash(tmp_path, data):
    from conftest import BASE_FILES

    name = data.draw(st.sampled_from([k for k in BASE_FILES if k != "mle3.yaml"]))
    import textwrap

    original = textwrap.dedent(BASE_FILES[name]).lstrip("\n").encode()
    pos = data.draw(st.integers(0, len(original) - 1))
    mutated = original[:pos] + data.draw(st.binary(max_size=6)) + original[pos + data.draw(st.integers(0, 4)) :]
    root = write_files(tmp_path / "m", dict(BASE_FILES))
    (root / name).write_bytes(mutated)
    report = run_checks(load_workspace(root, use_cache=False))
    assert all(f.file and f.line for f in report.findings)


def test_deep_nesting_and_huge_files_are_refused_within_bounds(tmp_path):
    (tmp_path / "deep.yaml").write_text("requirement: " + "[" * 5000 + "]" * 5000 + "\n")
    problem = parse_file(str(tmp_path), "deep.yaml").problem
    assert problem and problem[3] == "load.yaml-too-large"
    (tmp_path / "dashes.yaml").write_text("requirement:\n  " + "- " * 150 + "x\n")
    assert parse_file(str(tmp_path), "dashes.yaml").problem[3] == "load.yaml-too-large"
    # 100,000 levels crashed libyaml in C before the bound: the CLI must answer normally
    import subprocess
    import sys

    ws = write_files(
        tmp_path / "ws",
        {"mle3.yaml": "project: deep\n", "artifacts/d.yaml": "requirement: " + "[" * 100_000 + "]" * 100_000 + "\n"},
    )
    proc = subprocess.run(
        [sys.executable, "-c", "from mle3.cli import run; run()", "check", "-w", str(ws)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "nested deeper than 100 levels" in proc.stdout
    (tmp_path / "huge.yaml").write_bytes(b"a: " + b"x" * (21 * 1024 * 1024) + b"\n")
    problem = parse_file(str(tmp_path), "huge.yaml").problem
    assert problem and problem[3] == "load.yaml-too-large"


def test_billion_laughs_is_refused_with_a_location(tmp_path):
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    (tmp_path / "bomb.yaml").write_text(bomb)
    result = parse_file(str(tmp_path), "bomb.yaml")
    assert result.problem and result.problem[3] == "load.yaml-too-large" and result.problem[1] > 0


def test_symlinks_out_of_the_workspace_are_never_followed(make_ws, tmp_path, cli):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("requirement:\n  id: SECRET\n  type: other\n")
    (outside / "weights.pt").write_bytes(b"not yours")
    root = make_ws(
        {
            "artifacts/model.yaml": BASE_FILES["artifacts/model.yaml"].replace(
                "  status: draft", "  artifacts: {weights: models/w.pt}\n          status: draft"
            )
        }
    )
    os.symlink(outside / "secret.yaml", root / "requirements" / "linked.yaml")
    (root / "models").mkdir()
    os.symlink(outside / "weights.pt", root / "models" / "w.pt")
    ws = load_workspace(root, use_cache=False)
    assert ws.resolve("SECRET") is None  # a linked item file is not read
    findings = run_checks(ws).findings
    assert any(f.rule == "consistency.path-outside" and "w.pt" in f.message for f in findings)
    from mle3.ledger.fingerprint import Fingerprints
    from mle3.graph import build_graph

    fp = Fingerprints(ws, build_graph(ws))
    assert fp.file_hash("models/w.pt") is None  # never hashed


def test_workspace_templates_cannot_reach_outside(trained_ws, cli, tmp_path):
    (tmp_path / "evil.html.j2").write_text("{{ doc }}")
    templates = trained_ws / "templates"
    templates.mkdir()
    os.symlink(tmp_path / "evil.html.j2", templates / "wp_11-06.html.j2")
    code, _, err = cli("report", "11-06", "TINY-MODEL-v0.1.0", "-o", tmp_path / "x.pdf", "-w", trained_ws, expect=2)
    assert code == 2 and "outside the template folders" in err and "Traceback" not in err


def test_pdf_renderer_fetches_nothing_from_data(tmp_path):
    from mle3.reports.render import _fetcher
    from mle3.templating import bundled_templates

    fetcher = _fetcher([bundled_templates()])
    for url in (
        "http://127.0.0.1:9/x.png",
        "https://example.invalid/a.css",
        "file:///etc/passwd",
        f"file://{tmp_path}/x.png",
        "ftp://x/y",
    ):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert fetcher.fetch(f"file://{bundled_templates() / 'print.css'}") is not None


def test_html_with_urls_in_data_renders_without_fetching(trained_ws, cli, tmp_path, monkeypatch):
    import mle3.reports.render as render

    require_weasyprint()
    asked = []
    real = render._fetcher

    def spy(allowed):
        f = real(allowed)
        original = f.fetch

        def fetch(url, headers=None):
            asked.append(url)
            return original(url, headers)

        f.fetch = fetch
        return f

    monkeypatch.setattr(render, "_fetcher", spy)
    req = trained_ws / "requirements/R.yaml"
    req.write_text(
        req.read_text().replace(
            "title: Tiny detector quality",
            'title: \'<img src="http://127.0.0.1:9/x.png"><link rel=stylesheet href="file:///etc/passwd">\'',
        )
    )
    assert cli("report", "11-06", "TINY-MODEL-v0.1.0", "-o", tmp_path / "x.pdf", "-w", trained_ws)[0] == 0
    assert not [u for u in asked if u.startswith(("http", "file:///etc"))]


def _log_files(root):
    return sorted(
        (p.relative_to(root).as_posix(), p.read_bytes()) for p in (root / audit.AUDIT_DIR).rglob("*") if p.is_file()
    )


def test_disk_full_during_an_approval_keeps_the_log_intact(trained_ws, cli, monkeypatch):
    before = _log_files(trained_ws)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit.os, "write", full)
    code, _, err = cli("approve", "TINY-MODEL-v0.1.0", "--role", "ml_lead", "--name", "Lea", "-w", trained_ws, expect=2)
    assert code == 2 and "No space left on device" in err and "Traceback" not in err
    assert _log_files(trained_ws) == before and audit.verify(trained_ws)[1] == []


def test_disk_full_during_registration_writes_nothing(trained_ws, cli, monkeypatch):
    import mle3._atomic as atomic

    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: FullFile(real_fdopen(fd, mode)))
    data_yaml = trained_ws / "data/tiny/data.yaml"
    code, _, err = cli(
        "dataset", "register", data_yaml, "--id", "TINY-DATA", "--version", "v2", "-w", trained_ws, expect=2
    )
    assert code == 2 and "No space left" in err
    leftovers = [
        p.name for p in (trained_ws / "artifacts/datasets").iterdir() if "v2" in p.name or p.name.endswith(".tmp")
    ]
    assert leftovers == []


@pytest.mark.parametrize(
    "args",
    [
        ("approve", "../../tmp/x", "--role", "ml_lead"),
        ("trace", "a/b"),
        ("report", "13-65", "bad id", "-o", "r.pdf"),
        ("runs", "show", "../../../etc"),
        ("dataset", "register", "data/tiny/data.yaml", "--id", "../evil", "--version", "v9"),
        ("dataset", "register", "data/tiny/data.yaml", "--id", "OK", "--version", "v9/x"),
        ("train", "TINY-TRAIN-001", "--model-id", "../../evil"),
    ],
)
def test_every_command_refuses_ids_that_could_leave_their_folder(trained_ws, cli, args):
    before = sorted(p.relative_to(trained_ws).as_posix() for p in trained_ws.rglob("*") if ".mle3" not in p.parts)
    code, _, err = cli(*args, "-w", trained_ws, expect=2)
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert "contains" in err or "'..'" in err, err
    after = sorted(p.relative_to(trained_ws).as_posix() for p in trained_ws.rglob("*") if ".mle3" not in p.parts)
    assert after == before

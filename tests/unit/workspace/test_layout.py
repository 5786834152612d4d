"""The workspace layout: every path mle3 reads or writes comes from one place, follows
mle3.yaml's ``item_dirs`` and ``artifacts_dir``, and writers that check then write hold
one workspace lock."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from mle3.errors import Mle3Error
from mle3.workspace import Layout, as_workspace, layout_at, load_workspace
from mle3.workspace.config import ProjectConfig
from mle3.workspace.layout import covers, paths

PACKAGE = Path(__file__).resolve().parents[3] / "mle3"
#: modules allowed to spell a workspace path: the layout itself, the defaults of mle3.yaml,
#: the loader's list of folders it never walks, and the files `mle3 init` / the demo create
ALLOWED = {"paths.py", "workspace/layout.py", "workspace/config.py", "workspace/load.py", "scaffold.py", "demo.py"}


def _workspace_paths(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants (docstrings excluded) that are a workspace path of mle3's own."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            s = node.value
            if s == ".mle3" or s.startswith((".mle3/", "artifacts/")) or s == "models":
                found.append((node.lineno, s))
    return found


def test_no_module_but_the_layout_spells_a_workspace_path():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ALLOWED:
            continue
        for line, value in _workspace_paths(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"mle3/{rel}:{line}: {value!r}")
    assert offenders == []


def test_the_scan_finds_a_hard_coded_path():
    """The guard above can fail: a module spelling a path is found."""
    source = 'X = ".mle3/queue"\ndef f():\n    """artifacts/runs"""\n    return "artifacts/runs"\n'
    assert _workspace_paths(ast.parse(source)) == [(1, ".mle3/queue"), (4, "artifacts/runs")]


def test_default_layout_keeps_todays_places(tmp_path):
    layout = Layout(tmp_path)
    assert layout.item_dirs == ("requirements", "artifacts")

    def named(*names: str) -> list[str]:
        return [getattr(layout, n) for n in names]

    assert named("runs_dir", "models_dir", "datasets_dir", "studies_dir", "audit_dir", "audit_legacy") == [
        "artifacts/runs",
        "artifacts/models",
        "artifacts/datasets",
        "artifacts/studies",
        "artifacts/audit",
        "artifacts/audit.jsonl",
    ]
    assert named("queue_dir", "local_settings", "serve_token", "optuna_storage", "run_changes", "run_index") == [
        ".mle3/queue",
        ".mle3/local.yaml",
        ".mle3/serve.token",
        ".mle3/optuna.sqlite3",
        ".mle3/run-changes.log",
        ".mle3/cache/run-index.json",
    ]
    assert layout.weights_dir == "models" and layout.lock_path("audit") == tmp_path / ".mle3/locks/audit.lock"


def test_a_custom_artifacts_dir_moves_every_record_and_nothing_of_the_state():
    layout = Layout.of(Path("/ws"), ProjectConfig(item_dirs=["specs"], artifacts_dir="records/mle3"))
    named = dict(paths(layout))
    records = {"runs_dir", "models_dir", "datasets_dir", "studies_dir", "audit_dir", "audit_legacy"}
    assert {k for k, v in named.items() if v.startswith("records/mle3/")} == records
    state = {k: v for k, v in named.items() if k not in records | {"artifacts", "weights_dir"}}
    assert state and all(v == ".mle3" or v.startswith(".mle3/") for v in state.values())
    assert layout.item_dirs == ("specs", "records/mle3")  # what mle3 writes is read back


@pytest.mark.parametrize(
    ("dirs", "expected"),
    [
        (["requirements", "artifacts"], ("requirements", "artifacts", "records")),
        (["."], (".",)),
        (["records"], ("records",)),
        (["records/runs"], ("records/runs", "records")),
        (["rec"], ("rec", "records")),
    ],
)
def test_the_artifacts_folder_is_added_only_when_no_item_folder_covers_it(dirs, expected):
    assert Layout.of(Path("/ws"), ProjectConfig(item_dirs=dirs, artifacts_dir="records")).item_dirs == expected


def test_covers():
    assert covers("a", "a/b") and covers(".", "x") and not covers("a/b", "a") and not covers("ab", "abc")


@pytest.mark.parametrize("bad", ["../out", "/tmp/out", ".mle3/out", ".git", ""])
def test_artifacts_dir_must_be_a_folder_of_the_workspace(bad):
    with pytest.raises(ValueError):
        ProjectConfig(artifacts_dir=bad)


def test_layout_at_reads_mle3_yaml_again_when_it_changes(tmp_path):
    assert layout_at(tmp_path) == Layout(tmp_path)  # no mle3.yaml: the defaults
    (tmp_path / "mle3.yaml").write_text("project: t\n")
    assert layout_at(tmp_path).runs_dir == "artifacts/runs"
    (tmp_path / "mle3.yaml").write_text("project: t\nartifacts_dir: out\n")
    assert layout_at(tmp_path).runs_dir == "out/runs"
    (tmp_path / "mle3.yaml").write_text("project: t\nartifacts_dir: [1]\n")
    with pytest.raises(Mle3Error):
        layout_at(tmp_path)


def test_workspace_owns_its_layout_locks_and_reload(make_ws):
    root = make_ws({"mle3.yaml": "project: t\nexternal: ['SYS-*']\nartifacts_dir: out\n"})
    ws = load_workspace(root)
    assert ws.layout.runs_dir == "out/runs" and as_workspace(ws) is ws and as_workspace(root).root == ws.root
    lock = ws.lock("promote")
    assert Path(lock.lock_file) == root / ".mle3/locks/promote.lock" and ws.lock("promote") is lock
    assert ws.resolve("REQ-NEW") is None
    (root / "requirements/new.yaml").write_text("requirement: {id: REQ-NEW, title: new, type: ml_data}\n")
    assert ws.reload() is ws and ws.resolve("REQ-NEW") is not None


# ---------------------------------------------------------------------- round trip
SPEC = {
    "mle3.yaml": "project: custom layout\nitem_dirs: [specs]\nartifacts_dir: records\n",
    "specs/req.yaml": """
        requirements:
          - {id: REQ-DATA, type: ml_data, title: data}
    """,
    "specs/train.yaml": """
        training:
          id: TINY-TRAIN
          model_line: TINY-MODEL
          model: yolov8n.yaml
          dataset: TINY-DATA
          epochs: 1
    """,
}


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def test_custom_item_dirs_and_artifacts_dir_round_trip(tmp_path):
    """register -> a run record -> check: everything is written below artifacts_dir and read
    back from there, although item_dirs does not name it (no real training)."""
    from mle3 import audit
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate
    from mle3.rules.engine import check_workspace
    from mle3.runs.records import RunRecord, list_runs

    root = _write(tmp_path / "ws", SPEC)
    data_yaml = generate(root / "data" / "tiny", counts={"train": 6, "val": 2, "test": 2}, image_size=32, seed=1)
    reg = register(load_workspace(root), data_yaml, "TINY-DATA", "v1", ["REQ-DATA"])
    assert reg.item_file.startswith("records/datasets/") and not (root / "artifacts").exists()
    record = RunRecord.create(root, "TINY-TRAIN", dataset_version=reg.key, dataset_fingerprint=reg.fingerprint)
    record.update(status="failed", error="no training in this test")
    assert record.rel_dir == f"records/runs/{record.id}" and (root / record.rel_dir / "run.yaml").is_file()
    assert [r["id"] for r in list_runs(root)] == [record.id]
    assert (root / ".mle3/run-changes.log").read_text().split() == [record.id, record.id]
    ws = load_workspace(root)
    assert ws.resolve("TINY-DATA").kind == "dataset" and ws.resolve(record.id).kind == "run"
    assert all(f.startswith(("specs/", "records/")) for f in ws.files)
    assert audit.read(root).nodes and all(n.file.startswith("records/audit/") for n in audit.read(root).nodes)
    assert audit.verify(root) == (len(audit.read(root).nodes), [])
    report = check_workspace(root, use_cache=False)
    ours = (record.id, reg.key)
    assert not [f for f in report.findings if f.rule.startswith("load.") or f.severity == "error" and f.item in ours]
    assert not [p for p in (root / ".mle3").glob("*.lock")], "every lock lies in .mle3/locks/"


# ---------------------------------------------------------------------- promote under the lock
def test_promote_evaluates_its_gate_under_the_workspace_lock(make_ws, monkeypatch):
    import importlib

    from filelock import FileLock, Timeout

    promote_module = importlib.import_module("mle3.approvals.promote")  # the package's `promote` is the function

    root = make_ws()
    seen = []
    real = promote_module.evaluate_gate

    def gate_while_locked(ws, *args, **kwargs):
        with pytest.raises(Timeout):  # another process's promote would wait here
            FileLock(str(ws.layout.lock_path(promote_module.PROMOTE_LOCK))).acquire(timeout=0)
        seen.append(ws)
        return real(ws, *args, **kwargs)

    monkeypatch.setattr(promote_module, "evaluate_gate", gate_while_locked)
    assert promote_module.promote(root, "MODEL-v1", "training").ok and len(seen) == 1
    assert "status: training" in (root / "artifacts/model.yaml").read_text()


def test_promote_with_a_stale_workspace_decides_on_the_workspace_as_it_is_now(make_ws):
    """Another promotion wrote between this caller's load and its promotion: the gate sees
    that write (read under the lock), so the two never both pass."""
    from mle3.approvals.promote import promote

    root = make_ws()
    stale = load_workspace(root)
    model_file = root / "artifacts/model.yaml"
    model_file.write_text(model_file.read_text().replace("status: draft", "status: rejected"))  # the other promotion
    gate = promote(stale, "MODEL-v1", "training")  # rejected -> training is not a transition
    assert not gate.ok and gate.current == "rejected"
    assert "status: rejected" in model_file.read_text()
    ok = promote(stale, "MODEL-v1", "draft")
    assert ok.ok and stale.get("MODEL-v1").status == "draft"  # the caller's workspace is current after the write


def test_the_audit_log_reads_a_workspace_layout_without_loading_pydantic(tmp_path):
    """The audit log and run records need only paths: a plain mle3.yaml is read without the
    settings' models (importing pydantic cost verify a fifth of its time at 100k entries)."""
    import subprocess
    import sys

    (tmp_path / "mle3.yaml").write_text("project: p\nartifacts_dir: records\n")
    code = (
        "import sys; from pathlib import Path; from mle3 import audit; "
        "audit.verify(Path(sys.argv[1])); print(audit.audit_dir(Path(sys.argv[1])).name, 'pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["audit", "False"], out.stdout + out.stderr

"""mle3's vocabulary (:mod:`mle3.vocab`): the words are persisted (item files, run records,
``epochs.jsonl``, audit entries), so they are pinned here; and each is written once."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

from mle3 import vocab

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "mle3"


def test_splits_and_aliases() -> None:
    assert vocab.SPLITS == ("train", "val", "test")
    assert [vocab.canonical_split(s) for s in ("val", "validation", "valid", "train", "test", "all", "VAL")] == [
        "val",
        "val",
        "val",
        "train",
        "test",
        "all",
        "VAL",
    ]
    assert all(vocab.is_validation_split(s) for s in ("val", "Validation", "VALID"))
    assert not any(vocab.is_validation_split(s) for s in ("test", "train", "all", "values"))


def test_metric_names_in_each_scheme() -> None:
    assert vocab.MODEL_METRICS == ("mAP_50", "mAP_50_95", "precision", "recall", "f1")
    assert vocab.EPOCH_KEYS["metrics/mAP50(B)"] == "mAP50" and vocab.EPOCH_KEYS["metrics/mAP50-95(B)"] == "mAP50_95"
    assert set(vocab.MODEL_TO_EPOCH.values()) <= set(vocab.EPOCH_KEYS.values())
    assert set(vocab.MODEL_TO_EPOCH) == set(vocab.MODEL_METRICS) - {"f1"}
    assert set(vocab.FITNESS_METRICS.values()) <= set(vocab.EPOCH_KEYS)
    # persisted early-stopping spellings keep working
    assert {"map@0.5", "map50", "map_50", "map@0.5:0.95", "map50-95", "map_50_95", "precision", "recall"} <= set(
        vocab.FITNESS_METRICS
    )


def test_model_metrics_of_an_epoch() -> None:
    epoch = {"precision": 0.5, "recall": 0.25, "mAP50": 0.1234567, "mAP50_95": 0.05, "train_box_loss": 1.0}
    got = vocab.model_metrics(epoch)
    assert list(got) == ["mAP_50", "mAP_50_95", "precision", "recall", "f1"]
    assert got == {"mAP_50": 0.123457, "mAP_50_95": 0.05, "precision": 0.5, "recall": 0.25, "f1": 0.333333}
    assert vocab.model_metrics({"precision": 0.0, "recall": 0.0}) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert vocab.model_metrics({"mAP50": 0.5}) == {"mAP_50": 0.5}


def test_image_suffixes() -> None:
    assert vocab.IMAGE_SUFFIXES == {
        ".avif",
        ".bmp",
        ".dng",
        ".heic",
        ".heif",
        ".jp2",
        ".jpeg",
        ".jpg",
        ".mpo",
        ".png",
        ".tif",
        ".tiff",
        ".webp",
    }
    assert set(vocab.CALIBRATION_SUFFIXES) <= vocab.IMAGE_SUFFIXES and set(vocab.PREVIEW_SUFFIXES) <= set(
        vocab.CALIBRATION_SUFFIXES
    )
    assert all(s == s.lower() and s.startswith(".") for s in vocab.IMAGE_SUFFIXES)


def test_statuses() -> None:
    assert vocab.MODEL_STATUSES == ("draft", "training", "validated", "released", "rejected", "obsolete")
    assert vocab.RUN_STATUSES == ("pending", "in_progress", "success", "failed", "aborted", "terminated", "pruned")
    assert set(vocab.RETIRED_STATUSES) | set(vocab.FROZEN_STATUSES) <= set(vocab.MODEL_STATUSES)
    assert set(vocab.RUN_ENDED) | set(vocab.RUN_RERUNNABLE) <= set(vocab.RUN_STATUSES_SHOWN)
    assert "pending" not in vocab.RUN_ENDED and "in_progress" not in vocab.RUN_ENDED


def test_audit_actions_are_the_persisted_names() -> None:
    assert vocab.AUDIT_ACTIONS == {
        "approval",
        "promote",
        "dataset.register",
        "dataset.retire",
        "run.queue",
        "run.requeue",
        "run.start",
        "run.abort",
        "run.end",
        "model.export",
        "model.evaluate",
        "tune.accept",
        "reqif.import",
        "communication",
        "baseline",
        "baseline.items",
    }


def test_every_audit_append_names_a_known_action() -> None:
    """A writer spells its action through :class:`vocab.AuditAction`, never as a literal."""
    literal = re.compile(r"audit\.append\([^,]+,\s*['\"]")
    offenders = [
        f"{p.relative_to(REPO)}:{n}"
        for p in PACKAGE.rglob("*.py")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert not offenders


def test_schema_literals_agree_with_the_vocabulary() -> None:
    from mle3.workspace import schema

    assert set(get_args(schema.MetricCriterion.model_fields["split"].annotation)) == set(vocab.SPLITS) | set(
        vocab.SPLIT_ALIASES
    ) - {"valid"}
    assert get_args(schema.TuningObjective.model_fields["metric"].annotation) == vocab.MODEL_METRICS


def test_serve_page_reads_epoch_record_keys() -> None:
    js = (REPO / "templates/serve/serve.js").read_text(encoding="utf-8")
    body = js[js.index("function renderEpochs") :]
    body = body[: body.index("\n  }\n")]
    keys = set(re.findall(r'key: "([^"]+)"', body)) | set(
        re.findall(r'"([a-z_]+_loss|precision|recall|mAP50(?:_95)?)"', body)
    )
    assert keys and keys <= set(vocab.EPOCH_KEYS.values())


def test_no_module_spells_the_vocabulary_again() -> None:
    """The duplicates vocab replaced stay gone (a new one would drift from it)."""
    patterns = {
        "split aliases": re.compile(
            r"""\(\s*["']val["'],\s*["']validation["'],\s*["']valid["']\s*\)|in \(["']validation["'], ["']valid["']\)"""
        ),
        "image suffixes": re.compile(r"""\(\s*["']\.jpg["'],\s*["']\.jpeg["']|\{\s*["']\.avif["']"""),
        "ultralytics metric keys": re.compile(r"""["']metrics/mAP50\(B\)["']\s*:"""),
        "run statuses": re.compile(r"""\(\s*["']pending["'],\s*["']in_progress["'],\s*["']success["']"""),
    }
    offenders = [
        f"{name}: {p.relative_to(REPO)}:{n}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "vocab.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        for name, pattern in patterns.items()
        if pattern.search(line)
    ]
    assert not offenders


def test_primitives_import_nothing_above_them() -> None:
    allowed = {"hashing", "ids", "errors"}
    for name in ("vocab.py", "formats.py"):
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("mle3")):
                module = (node.module or "").removeprefix("mle3.").split(".")[0]
                assert module in allowed, f"{name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("mle3") for a in node.names), name

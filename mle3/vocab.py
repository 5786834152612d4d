"""mle3's vocabulary, written once: split names and their aliases, metric names in each
naming scheme, image suffixes, statuses and audit actions.

Most of these words are persisted (in item files, run records, ``epochs.jsonl``, audit
entries), so none is ever renamed: a new spelling is added as an alias of an old one.
``tests/unit/test_vocab.py`` pins them.

A primitive: imports nothing from mle3.
"""

from __future__ import annotations

from typing import Any

# --- splits ----------------------------------------------------------------------------

#: the splits of a data set, as ultralytics' data.yaml names them
SPLITS = ("train", "val", "test")
#: other spellings of a split that item files may use
SPLIT_ALIASES = {"validation": "val", "valid": "val"}


def canonical_split(name: str) -> str:
    """``validation`` and ``valid`` are the same split as ``val``; any other name is itself."""
    return SPLIT_ALIASES.get(name, name)


def is_validation_split(name: str) -> bool:
    """Whether ``name`` (any case) names the validation split (a study may tune only on it)."""
    return canonical_split(name.lower()) == "val"


# --- metrics ---------------------------------------------------------------------------
# Three schemes: ultralytics' (``metrics/mAP50(B)``), the epoch records' (``epochs.jsonl``,
# also read by the serve page's JavaScript: ``mAP50``) and the model's (the seed's item
# format: ``mAP_50``), plus the spellings a configuration's ``early_stopping.metric`` takes.

#: ultralytics' per-epoch keys -> the names an epoch record (``epochs.jsonl``) uses
EPOCH_KEYS = {
    "train/box_loss": "train_box_loss",
    "train/cls_loss": "train_cls_loss",
    "train/dfl_loss": "train_dfl_loss",
    "val/box_loss": "val_box_loss",
    "val/cls_loss": "val_cls_loss",
    "val/dfl_loss": "val_dfl_loss",
    "metrics/precision(B)": "precision",
    "metrics/recall(B)": "recall",
    "metrics/mAP50(B)": "mAP50",
    "metrics/mAP50-95(B)": "mAP50_95",
}
#: a model version's metric names (requirements, tuning objectives, reports)
MODEL_METRICS = ("mAP_50", "mAP_50_95", "precision", "recall", "f1")
#: a model metric -> its name in an epoch record (``f1`` is computed from precision and recall)
MODEL_TO_EPOCH = {"mAP_50": "mAP50", "mAP_50_95": "mAP50_95", "precision": "precision", "recall": "recall"}
#: ``early_stopping.metric`` spellings (lower case) -> ultralytics' key of that metric
FITNESS_METRICS = {
    "map@0.5": "metrics/mAP50(B)",
    "map50": "metrics/mAP50(B)",
    "map_50": "metrics/mAP50(B)",
    "map@0.5:0.95": "metrics/mAP50-95(B)",
    "map50-95": "metrics/mAP50-95(B)",
    "map_50_95": "metrics/mAP50-95(B)",
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
}


def f1(precision: float, recall: float) -> float:
    """The harmonic mean of precision and recall (0 when both are 0)."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def model_metrics(epoch: dict[str, Any]) -> dict[str, float]:
    """An epoch record's metrics under the model's names, with ``f1``, rounded to 6 places."""
    p, r = epoch.get("precision"), epoch.get("recall")
    out = {model: epoch.get(name) for model, name in MODEL_TO_EPOCH.items()}
    if p is not None and r is not None:
        out["f1"] = f1(p, r)
    return {k: round(float(v), 6) for k, v in out.items() if v is not None}


# --- image suffixes --------------------------------------------------------------------

#: what ultralytics' loader takes for an image (its ``IMG_FORMATS``, without importing it):
#: each such file in a split folder is a sample whose label is checked
IMAGE_SUFFIXES = frozenset(
    {".avif", ".bmp", ".dng", ".heic", ".heif", ".jp2", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp"}
)
#: the images post-training quantization calibrates on (a subset OpenCV decodes). Kept as
#: it is: the calibration set's digest, recorded with a quantized model, lists these files
CALIBRATION_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: the images ``augment preview`` draws from
PREVIEW_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


# --- statuses --------------------------------------------------------------------------

#: a model version's life cycle (``mle3 promote --to``)
MODEL_STATUSES = ("draft", "training", "validated", "released", "rejected", "obsolete")
#: a model or data set that is out of use
RETIRED_STATUSES = ("rejected", "obsolete")
#: a model whose content people approved: writing into it (an export) would make those
#: approvals stale and break the release
FROZEN_STATUSES = ("validated", "released")
#: what a run record's ``status`` may say
RUN_STATUSES = ("pending", "in_progress", "success", "failed", "aborted", "terminated", "pruned")
#: shown for a run whose process died without recording its end (never written)
STALE = "stale"
#: every status a run is shown with (serve filters by these)
RUN_STATUSES_SHOWN = RUN_STATUSES + (STALE,)
#: a run that will not change any more
RUN_ENDED = ("success", "failed", "aborted", "terminated", "pruned", STALE)
#: a run ``mle3 runs rerun`` runs again
RUN_RERUNNABLE = ("failed", "terminated", "aborted", STALE, "pruned")


# --- audit actions ---------------------------------------------------------------------


class AuditAction:
    """The ``action`` of every audit entry mle3 writes (persisted and hashed: never renamed)."""

    APPROVAL = "approval"
    PROMOTE = "promote"
    DATASET_REGISTER = "dataset.register"
    DATASET_RETIRE = "dataset.retire"
    RUN_QUEUE = "run.queue"
    RUN_REQUEUE = "run.requeue"
    RUN_START = "run.start"
    RUN_ABORT = "run.abort"
    RUN_END = "run.end"
    MODEL_EXPORT = "model.export"
    #: ``mle3 evaluate``: per-slice metrics recorded in a model version
    MODEL_EVALUATE = "model.evaluate"
    TUNE_ACCEPT = "tune.accept"
    REQIF_IMPORT = "reqif.import"
    #: ``mle3 notify``: one message to its recipients (13-52 communication evidence)
    COMMUNICATION = "communication"
    #: ``mle3 baseline NAME``: the commit, the fingerprints of the approved items, a git tag
    BASELINE = "baseline"
    #: a part of a large baseline's fingerprints (the ``baseline`` entry names its parts by hash)
    BASELINE_ITEMS = "baseline.items"


#: every action mle3 writes
AUDIT_ACTIONS = frozenset(v for k, v in vars(AuditAction).items() if k.isupper())


#: the split MLE.3 decides on (exit criteria, early stopping, best epoch, tuning objective,
#: the quantization gate): training and validation data; the test split stays unseen by
#: them and is ML model testing evidence (MLE.4)
DECISION_SPLIT = "val"
#: the split whose results are ML model testing evidence (MLE.4, 08-64), never a training decision
TEST_SPLIT = "test"

"""A corpus of malformed workspaces (issue 21, hole 9): each case is the test workspace of
``conftest.BASE_FILES`` with one file replaced or added. Every field of every item kind
gets a wrong type, NaN/inf, a huge integer, a list or mapping where a scalar goes; files
get binary bytes, other encodings, a BOM, tabs, duplicate keys, deep nesting and aliases."""

from __future__ import annotations

import textwrap
from typing import Union

Content = Union[str, bytes]
HUGE = "9" * 5000  # above Python's 4,300-digit int/str limit

REQ = "requirements/REQ-X.yaml"
DATA = "artifacts/data.yaml"
TRAIN = "artifacts/train.yaml"
MODEL = "artifacts/model.yaml"
AUG = "artifacts/aug.yaml"
RUN = "artifacts/runs/RUN-20260101-000000-aaaa/run.yaml"
STUDY = "artifacts/study.yaml"
CONFIG = "mle3.yaml"


def _req(body: str) -> dict[str, Content]:
    return {REQ: "requirement:\n  id: REQ-X\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ") + "\n"}


def _train(body: str) -> dict[str, Content]:
    return {
        TRAIN: "training:\n  id: TRAIN\n  model: yolov8n.yaml\n  dataset: DATA\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ")
        + "\n"
    }


def _model(body: str) -> dict[str, Content]:
    return {
        MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ")
        + "\n"
    }


def _data(body: str) -> dict[str, Content]:
    return {
        DATA: "dataset:\n  id: DATA\n  version: v1\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ") + "\n"
    }


def _bomb(levels: int = 9) -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(levels):
        lines.append(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]")
    return "\n".join(lines) + "\n"


CASES: dict[str, dict[str, Content]] = {
    # ---- huge integers, NaN, inf
    "huge-int-epochs": _train(f"epochs: {HUGE}"),
    "huge-int-samples": _data(f"splits:\n  train: {{samples: {HUGE}, path: data/train}}"),
    "huge-int-criterion-min": _req(f"criteria:\n  - samples: train\n    min: -{HUGE}"),
    "huge-int-class-key": _data(f"classes: {{{HUGE}: car}}"),
    "huge-int-hex": _train("epochs: 0x" + "f" * 5000),
    "huge-int-sexagesimal": _train("epochs: " + ":".join(["59"] * 3000)),
    "huge-int-config": {CONFIG: f"project: t\ntraining_caveats:\n  overfit_epochs: {HUGE}\n"},
    "huge-int-pid": {RUN: f"run:\n  id: RUN-20260101-000000-aaaa\n  config: TRAIN\n  status: success\n  pid: {HUGE}\n"},
    "huge-int-id": {REQ: f"requirement:\n  id: {HUGE}\n"},
    "nan-criterion-min": _req("criteria:\n  - metric: mAP_50\n    min: .nan"),
    "inf-metric": _model("metrics:\n  test: {mAP_50: .inf}"),
    "float-overflow": _model("metrics:\n  test: {mAP_50: 1.0e+400}"),
    "nan-class-names": _data("classes: [.nan, 1.0e+400]"),
    "nan-class-strings": _data("classes: [nan, 1e400]\nsplits:\n  train: {samples: 10, instances: {nan: 5, 1e400: 3}}"),
    "nan-class-criterion": _req(
        "criteria:\n  - class: nan\n    min_samples: 1\n  - class: 1e400\n    min_samples: 1\n  - class: .nan\n    min_samples: .nan"
    ),
    "nan-class-key": _data("classes: {.nan: car, .inf: bus}"),
    "nan-split-ratio": _req("criteria:\n  - split_ratio: {train: [.nan, .inf]}"),
    "nan-config-threshold": {CONFIG: "project: t\nquantization:\n  max_map50_drop: .nan\n"},
    "nan-probability": {
        AUG: "augmentation:\n  id: AUG\n  geometric:\n    scale: {probability: .nan, range: [.nan, 1]}\n"
    },
    "nan-tuning": _train(
        "epochs: 5\ntuning:\n  objective: {metric: mAP_50}\n  space:\n    optimizer.lr: {low: .nan, high: .inf}"
    ),
    "nan-importances": {
        STUDY: "study:\n  id: STUDY-1\n  config: TRAIN\n  importances: {lr: .nan, x: [1]}\n  trials: [1, 2]\n  best: 5\n"
    },
    # ---- lists and mappings where scalars go
    "id-list": {REQ: "requirement:\n  id: [a, b]\n"},
    "id-mapping": {REQ: "requirement:\n  id: {a: 1}\n"},
    "id-int": {REQ: "requirement:\n  id: 12345\n"},
    "id-bool-null": {REQ: "requirements:\n  - id: true\n  - id: ~\n  - id: ''\n"},
    "id-long": {REQ: "requirement:\n  id: " + "A" * 20000 + "\n"},
    "title-list": _req("title: [x, y]\ntext: {a: b}\ntype: [ml_data]"),
    "derived-from-mapping": _req("derived_from: {a: b}"),
    "criteria-scalar": _req("criteria: 5"),
    "criteria-entries": _req("criteria: [5, [1], {metric: [x], min: [1]}, {}]"),
    "classes-scalar": _data("classes: car"),
    "splits-list": _data("splits: [train, val]"),
    "splits-scalar": _data("splits:\n  train: 5\n  val: [1]\n  test: {samples: [1], instances: [car]}"),
    "epochs-list": _train("epochs: [1]\nbatch_size: {}\nimage_size: [1, 2, 3]"),
    "sections-scalar": _train(
        "epochs: 5\noptimizer: 5\nscheduler: [cosine]\nhardware: {device: {a: 1}, workers: -1}\nreproducibility: {seed: [1]}"
    ),
    "quantization-settings-list": _train("epochs: 5\nquantization: [1, 2]"),
    "model-fields-wrong": _model(
        "metrics: {test: [1]}\ntraceability: [a]\ndependencies: {a: [1]}\ncreated: [x]\nstatus: {a: b}\napprover: {x: 1}\nversion: [1]"
    ),
    "model-metric-string": _model(
        "metrics:\n  test: {mAP_50: high}\ntraceability:\n  requirements: {a: 1}\n  previous_version: {a: b}"
    ),
    "quantization-drop-list": _model("status: validated\nquantization:\n  drop: [0.5, 0.9]\n  parent_fingerprint: 12"),
    "quantization-drop-scalar": _model("quantization:\n  drop: 0.5\n"),
    "quantization-drop-nan": _model("quantization:\n  drop: {mAP_50: .nan, x: [1]}\n"),
    "quantization-block-list": _model("quantization: [1]\n"),
    "run-fields-wrong": {
        RUN: "run:\n  id: RUN-20260101-000000-aaaa\n  config: [1]\n  status: {a: b}\n  created: [x]\n  epochs_completed: lots\n"
    },
    "augmentation-wrong": {AUG: "augmentation:\n  geometric: [1]\n  photometric: {brightness: 5}\n  mosaic: [1]\n"},
    "plural-not-list": {REQ: "requirements: {id: REQ-X}\n"},
    "plural-entries": {REQ: "requirements: [5, [1], ~, 'x']\n"},
    # ---- timestamps, tags, keys
    "bad-timestamp": _model("created: 2026-13-45"),
    "bad-timestamp-run": {
        RUN: "run:\n  id: RUN-20260101-000000-aaaa\n  config: TRAIN\n  created: 2026-02-30 10:00:00\n"
    },
    "python-tag": _req("title: !!python/object/apply:os.system ['echo pwned']"),
    "custom-tags": _req("title: !foo bar\ntext: !!binary aGVsbG8=\nstatus: !!set {a, b}"),
    "bad-binary": _req("text: !!binary '%%%'"),
    "complex-keys": {REQ: "requirement:\n  id: REQ-X\n  ? [a, b]\n  : c\n  1: x\n  ~: y\n"},
    "merge-scalar": {REQ: "requirement:\n  id: REQ-X\n  <<: 5\n"},
    "duplicate-keys": {REQ: "requirement:\n  id: REQ-X\n  id: REQ-Y\n  title: a\n  title: b\n"},
    "many-documents": {REQ: "requirement:\n  id: REQ-X\n---\n- 1\n---\n5\n---\nrequirement: 5\n"},
    # ---- bytes and encodings
    "binary": {REQ: bytes(range(256)) * 4},
    "nul-bytes": {REQ: b"requirement:\n  id: REQ-X\x00\n"},
    "latin-1": {REQ: "requirement:\n  id: REQ-X\n  title: caf\xe9\n".encode("latin-1")},
    "utf-8-bom": {REQ: b"\xef\xbb\xbfrequirement:\n  id: REQ-X\n"},
    "utf-16": {REQ: "requirement:\n  id: REQ-X\n".encode("utf-16")},
    "tabs": {REQ: "requirement:\n\tid: REQ-X\n"},
    "empty": {REQ: ""},
    "empty-item": {REQ: "requirement:\n"},
    "binary-config": {CONFIG: bytes(range(256))},
    "config-wrong-types": {CONFIG: "project: [x]\nrules: [1]\npolicy: 5\n"},
    "config-policy-types": {
        CONFIG: "project: t\npolicy:\n  approvals: {validated: admin, released: [1, [2]]}\n  require_signatures: maybe\n"
    },
    "config-data-roots": {CONFIG: "project: t\ndata_roots: {x: [1], 'A B': y}\nitem_dirs: artifacts\n"},
    "config-item-dirs-outside": {CONFIG: "project: t\nitem_dirs: [/etc, ../x]\n"},
    "config-empty-list": {CONFIG: "- 1\n- 2\n"},
    # ---- size and depth
    "deep-brackets": {REQ: "requirement: " + "[" * 100_000 + "]" * 100_000 + "\n"},
    "deep-braces": {REQ: "requirement: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n"},
    "deep-indent": {REQ: "requirement:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 300))},
    "deep-config": {CONFIG: "project: " + "[" * 100_000 + "]" * 100_000 + "\n"},
    "alias-bomb": {REQ: _bomb()},
    "alias-bomb-config": {CONFIG: "project: t\nx: " + "\n" + _bomb()},
    "alias-bomb-in-item": {REQ: _bomb() + "requirement:\n  id: REQ-X\n  text: *i\n"},
    "huge-file": {REQ: b"requirement:\n  id: REQ-X\n  text: " + b"x" * (21 * 1024 * 1024) + b"\n"},
    "huge-config": {CONFIG: b"project: " + b"x" * (21 * 1024 * 1024) + b"\n"},
}

#: the commands every case is run through (the item arguments name BASE_FILES items)
COMMANDS: list[list[str]] = [
    ["check"],
    ["trace", "MODEL-v1"],
    ["report", "13-65", "MODEL-v1", "--to", "html"],
    ["matrix"],
    ["site"],
]

"""The seed's YAML shapes load verbatim with every field kept; the example workspace passes."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import FIXTURES, REPO

from mle3 import build_graph, load_workspace, run_checks


def seed_workspace(tmp_path: Path) -> Path:
    """The three seed blocks verbatim plus what they reference."""
    root = tmp_path / "seed"
    shutil.copytree(REPO / "requirements", root / "requirements")
    shutil.copy(REPO / "mle3.yaml", root / "mle3.yaml")
    (root / "artifacts").mkdir()
    shutil.copy(FIXTURES / "seed" / "training.yaml", root / "artifacts" / "training.yaml")
    shutil.copy(FIXTURES / "seed" / "augmentation.yaml", root / "artifacts" / "aug_config_v2.yaml")
    shutil.copy(FIXTURES / "seed" / "model_version.yaml", root / "artifacts" / "model_version.yaml")
    for name in ("MLE-DATA-001-v1.1.yaml", "MLE-DATA-001-v1.2.yaml", "../models/MLE-MODEL-001-v2.2.0.yaml"):
        shutil.copy(REPO / "artifacts" / "datasets" / name, root / "artifacts" / Path(name).name)
    return root


def test_seed_training_configuration_keeps_every_field(tmp_path):
    ws = load_workspace(seed_workspace(tmp_path), use_cache=False)
    cfg = ws.get("MLE-TRAIN-001")
    assert cfg.model == "YOLOv8-nano" and cfg.dataset == "MLE-DATA-001"
    assert (cfg.epochs, cfg.batch_size, tuple(cfg.image_size)) == (300, 64, (640, 384))
    assert (cfg.optimizer.type, cfg.optimizer.lr, cfg.optimizer.weight_decay, cfg.optimizer.momentum) == (
        "AdamW",
        0.001,
        0.0005,
        0.937,
    )
    s = cfg.scheduler
    assert (s.type, s.warmup_epochs, s.warmup_bias_lr, s.warmup_momentum, s.min_lr) == ("cosine", 3, 0.1, 0.8, 0.0001)
    assert (cfg.transfer.pretrained, cfg.transfer.freeze_backbone, cfg.transfer.freeze_epochs) == (
        "yolov8n.pt",
        False,
        0,
    )
    assert (cfg.loss.box_loss, cfg.loss.cls_loss, cfg.loss.dfl_loss) == (7.5, 0.5, 1.5)
    assert (cfg.early_stopping.patience, cfg.early_stopping.metric, cfg.early_stopping.mode) == (50, "mAP@0.5", "max")
    assert (cfg.checkpointing.save_period, cfg.checkpointing.save_best, cfg.checkpointing.save_last) == (10, True, True)
    h = cfg.hardware
    assert (h.device, h.workers, h.pin_memory, h.amp) == ("cuda:0", 8, True, True)
    assert (cfg.reproducibility.seed, cfg.reproducibility.deterministic) == (42, True)


def test_seed_model_version_keeps_every_field(tmp_path):
    ws = load_workspace(seed_workspace(tmp_path), use_cache=False)
    m = ws.get("MLE-MODEL-001-v2.3.1")
    assert m.created == "(timestamp)" and m.training_run == "MLE-TRAIN-001"
    assert m.artifacts.model_dump() == {
        "weights": "models/yolov8n_adas_v2.3.1.pt",
        "config": "configs/train_v2.3.1.yaml",
        "onnx": "models/yolov8n_adas_v2.3.1.onnx",
        "trt_int8": "models/yolov8n_adas_v2.3.1.engine",
    }
    assert m.metrics.validation.model_dump(exclude_none=True) == {
        "mAP_50": 0.894,
        "precision": 0.965,
        "recall": 0.989,
        "f1": 0.977,
    }
    assert m.metrics.test.model_dump(exclude_none=True) == {
        "mAP_50": 0.887,
        "precision": 0.958,
        "recall": 0.984,
        "f1": 0.971,
    }
    td = m.training_data
    assert (td.dataset_version, td.train_samples, td.val_samples, td.augmentation) == (
        "MLE-DATA-001-v1.2",
        700000,
        150000,
        "aug_config_v2.yaml",
    )
    tp = m.training_params
    assert (tp.epochs, tp.best_epoch, tp.training_time, tp.gpu) == (287, 237, "36h 42m", "NVIDIA A100")
    assert m.dependencies == {"pytorch": "2.1.0", "ultralytics": "8.0.200", "cuda": "12.1"}
    assert m.traceability.requirements == ["MLE-ADAS-001", "MLE-ADAS-002"]
    assert (m.traceability.architecture, m.traceability.previous_version) == ("MLE-ARCH-001", "MLE-MODEL-001-v2.2.0")
    assert (m.status, m.approver, m.approval_date) == ("validated", "(Approver Name)", "(Approval Date)")


def test_seed_augmentation_keeps_every_field(tmp_path):
    ws = load_workspace(seed_workspace(tmp_path), use_cache=False)
    aug = ws.get("aug_config_v2.yaml")
    assert aug.kind == "augmentation"
    dumped = aug.model_dump(
        exclude_unset=True
    )  # as written: declared fields the seed leaves out (probability) are not added
    assert dumped["geometric"]["rotation"] == {"enabled": True, "range": [-5, 5]}
    assert dumped["weather_simulation"]["snow"] == {"enabled": False}
    assert dumped["automotive_specific"]["sensor_noise"] == {"enabled": True, "noise_level": 0.01}
    assert dumped["mosaic"] == {"enabled": True, "probability": 0.5, "grid_size": 2}
    assert dumped["mixup"] == {"enabled": True, "probability": 0.1, "alpha": 0.5}
    assert set(dumped["photometric"]) == {"brightness", "contrast", "saturation", "hue"}


def test_seed_workspace_links_resolve(tmp_path):
    ws = load_workspace(seed_workspace(tmp_path), use_cache=False)
    report = run_checks(ws)
    errors = {(f.rule, f.item) for f in report.findings if f.severity == "error"}
    # every link resolves; the only errors are that the seed's placeholder approver
    # "(Approver Name)" is not a recorded approval of this content
    assert errors == {("approval.missing", "MLE-MODEL-001-v2.3.1"), ("status.upstream-broken", "MLE-MODEL-001-v2.3.1")}
    graph = build_graph(ws)
    rels = {(d["relation"], v) for _, v, d in graph.out_edges("MLE-MODEL-001-v2.3.1", data=True)}
    assert ("trained_by", "MLE-TRAIN-001") in rels
    assert ("uses_dataset", "MLE-DATA-001-v1.2") in rels
    assert ("uses_augmentation", "aug_config_v2.yaml") in rels
    assert ("previous_version", "MLE-MODEL-001-v2.2.0") in rels
    assert ("implements", "MLE-ARCH-001") in rels


def test_example_workspace_in_repo_passes(cli):
    code, out, _ = cli("check", "-w", REPO, "--strict", "--no-cache")
    assert code == 0, out
    assert "OK: 0 errors, 0 warnings" in out

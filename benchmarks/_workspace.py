"""A small training workspace with a registered synthetic data set, for benchmarks."""

from __future__ import annotations

from pathlib import Path


def training_workspace(root: Path, name: str, training_yaml: str, *, images: int, imgsz: int) -> Path:
    """Write mle3.yaml, one ML data requirement and the training configuration, generate
    `images` training images (and a fifth each for val and test) and register them as
    `<name>-DATA v1`. Returns the root."""
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate

    (root / "requirements").mkdir(parents=True)
    (root / "artifacts" / "training").mkdir(parents=True)
    (root / "mle3.yaml").write_text(f"project: {name} benchmark\n")
    (root / "requirements" / "r.yaml").write_text("requirement:\n  id: REQ-D\n  type: ml_data\n")
    (root / "artifacts" / "training" / "t.yaml").write_text(training_yaml)
    data_yaml = generate(
        root / "data", counts={"train": images, "val": images // 5, "test": images // 5}, image_size=imgsz
    )
    register(root, data_yaml, f"{name}-DATA", "v1", ["REQ-D"])
    return root

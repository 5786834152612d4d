"""The quantization gate per slice: a child that holds overall but loses beyond the threshold
on one condition (night) of val is a ``quantization.drop`` finding naming that slice; on test
it is testing evidence (info), not an MLE.3 decision."""

from __future__ import annotations

from conftest import check_json

PARENT = """
    model_version:
      id: MODEL-v1
      training_run: TRAIN
      metrics:
        test: {mAP_50: 0.7}
      training_data:
        dataset_version: DATA-v1
      traceability:
        requirements: [REQ-D, REQ-P]
        architecture: ARCH-1
      status: draft
      slices:
        dataset: DATA-v1
        min_images: 30
        results:
          - {split: test, where: {}, images: 150, instances: 400, mAP_50: 0.70}
          - {split: test, where: {time_of_day: day}, images: 110, instances: 300, mAP_50: 0.72}
          - {split: test, where: {time_of_day: night}, images: 40, instances: 100, mAP_50: 0.66}
          - {split: test, where: {weather: fog}, images: 10, instances: 30, mAP_50: 0.60, too_small: true}
"""


def child(night: float, fog: float = 0.3, day: float = 0.715, reference: str = "") -> str:
    return f"""
    model_version:
      id: MODEL-v1-int8
      training_run: QRUN
      artifacts: {{onnx: models/MODEL-v1-int8.onnx}}
      metrics:
        test: {{mAP_50: 0.695}}
      training_data:
        dataset_version: DATA-v1
      traceability:
        requirements: [REQ-D, REQ-P]
        architecture: ARCH-1
        previous_version: MODEL-v1
      status: draft
      quantization:
        method: ptq
        drop: {{val: 0.004, test: 0.005}}
        threshold: 0.01
        passed: true{reference}
      slices:
        dataset: DATA-v1
        min_images: 30
        results:
          - {{split: test, where: {{}}, images: 150, instances: 400, mAP_50: 0.695}}
          - {{split: test, where: {{time_of_day: day}}, images: 110, instances: 300, mAP_50: {day}}}
          - {{split: test, where: {{time_of_day: night}}, images: 40, instances: 100, mAP_50: {night}}}
          - {{split: test, where: {{weather: fog}}, images: 10, instances: 30, mAP_50: {fog}, too_small: true}}
    """


def drops(cli, make_ws, child_text: str, split: str = "val") -> list[dict]:
    """The findings on the slices of ``split`` (the fixtures' slices moved to it)."""
    parent, child_text = (
        PARENT.replace("split: test", f"split: {split}"),
        child_text.replace("split: test", f"split: {split}"),
    )
    root = make_ws({"artifacts/model.yaml": parent, "artifacts/child.yaml": child_text})
    _, doc = check_json(cli, root)
    return [f for f in doc["findings"] if f["rule"] == "quantization.drop"]


def test_a_drop_beyond_the_threshold_at_night_is_a_finding_naming_the_slice(cli, make_ws):
    found = drops(cli, make_ws, child(night=0.60))  # overall -0.005, night -0.06
    assert len(found) == 1, found
    finding = found[0]
    assert finding["item"] == "MODEL-v1-int8"
    assert "val slice time_of_day=night" in finding["message"] and "0.0600" in finding["message"]
    assert finding["severity"] == "warning"  # a draft; an error once validated or released
    assert finding["line"] is not None


def test_a_drop_on_a_test_slice_is_testing_evidence_not_the_gate(cli, make_ws):
    # MLE.3 decides on val; the test split is MLE.4's: reported (info), never an error
    (finding,) = drops(cli, make_ws, child(night=0.60), split="test")
    assert "test slice time_of_day=night" in finding["message"] and "testing evidence (MLE.4)" in finding["message"]
    assert finding["severity"] == "info"


def test_drops_within_bounds_and_too_small_slices_pass(cli, make_ws):
    # night within bounds; fog loses 0.3 but is too small to mean anything
    assert drops(cli, make_ws, child(night=0.655)) == []


def test_the_float_onnx_slices_recorded_by_quantization_are_the_reference(cli, make_ws):
    # against the parent's slices night drops 0.005 (fine); against the float ONNX model's
    # slices (the same evaluator as the child's) it drops 0.055
    reference = (
        "\n        float_reference:\n          model_version: MODEL-v1\n          slices:\n"
        "            - {split: test, where: {time_of_day: night}, images: 40, instances: 100, mAP_50: 0.71}"
    )
    found = drops(cli, make_ws, child(night=0.655, reference=reference))
    assert len(found) == 1 and "time_of_day=night" in found[0]["message"] and "0.0550" in found[0]["message"]

"""Every rule has a failing fixture (it fires, at the right file and line) and the base
workspace is the passing fixture for all of them (it fires nowhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mle3 import load_workspace, run_checks
from mle3.rules import RULES

MODEL = "artifacts/model.yaml"
APPROACH_FILE = "artifacts/approach.yaml"
APPROACH_TEXT = (
    "approach:\n  id: APPROACH\n  exit_criteria:\n    early_stopping: {patience: 5}\n  requirements: [REQ-P]\n"
)
TRAIN_FOLLOWING = "training:\n  id: TRAIN\n  model: yolov8n.yaml\n  dataset: DATA\n  epochs: 10\n  approach: APPROACH\n"
RUN_FILE = "artifacts/runs/RUN-20260101-000000-abcd/run.yaml"
#: a run record as `mle3 train` writes it, reduced to what the approach rules read
RUN_TEXT = (
    "run:\n  id: RUN-20260101-000000-abcd\n  config: TRAIN\n  status: success\n  kind: training\n"
    "  dataset_version: DATA-v1\n  started: '2026-01-01T00:00:00+00:00'\n"
    "  data_check: {checked: true, matches: true}\n  parameters: {device: cpu, amp: false}\n"
    "  environment: {gpus: []}\n  epochs_completed: 10\n"
)

REVIEW_FILE = "requirements/reviews/REV-1.yaml"
#: a review record of the base workspace's model that passed everything
REVIEW_TEXT = (
    "review:\n  id: REV-1\n  reviews: [MODEL-v1]\n  reviewer: Ana\n  date: 2026-01-02\n"
    "  checklist:\n    - {question: the requirements fit the model, result: pass}\n"
    "  sampled_links:\n    - {source: MODEL-v1, relation: traces_to, target: REQ-P, result: consistent}\n"
    "  result: passed\n"
)

BASE_TRAIN = "training:\n  id: TRAIN\n  model: yolov8n.yaml\n  dataset: DATA\n  epochs: 10\n"

# rule id -> (file overrides, file the finding must name, line it must name or None)
CASES: dict[str, tuple[dict, str, int | None]] = {
    "review.failed": (
        {REVIEW_FILE: REVIEW_TEXT.replace("result: pass}", "result: fail}")},
        REVIEW_FILE,
        7,
    ),
    "review.sampled-link-unknown": (
        {REVIEW_FILE: REVIEW_TEXT.replace("target: REQ-P", "target: REQ-D").replace("traces_to", "uses_dataset")},
        REVIEW_FILE,
        9,
    ),
    "trace.odd-cycle": (
        {
            "requirements/o.yaml": "odd:\n  id: O\n  requirements: [REQ-X]\n  characteristics:\n    t: [a]\n",
            "requirements/x.yaml": "requirement:\n  id: REQ-X\n  type: ml_data\n  odd: O\n",
        },
        "requirements/o.yaml",
        3,
    ),
    "load.yaml-syntax": ({"artifacts/bad.yaml": "dataset:\n  id: [unclosed\n  version: v1\n"}, "artifacts/bad.yaml", 3),
    "load.yaml-too-large": (
        {
            "artifacts/bomb.yaml": "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, "
            "*a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: "
            "&e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        },
        "artifacts/bomb.yaml",
        None,
    ),
    "load.schema": (
        {"artifacts/train.yaml": "training:\n  id: TRAIN\n  model: yolov8n.yaml\n  dataset: DATA\n  epochs: many\n"},
        "artifacts/train.yaml",
        5,
    ),
    "load.duplicate-key": (
        {"artifacts/train.yaml": "training:\n  id: TRAIN\n  model: m\n  dataset: DATA\n  epochs: 3\n  epochs: 4\n"},
        "artifacts/train.yaml",
        6,
    ),
    "load.duplicate-id": (
        {"artifacts/train2.yaml": "training:\n  id: TRAIN\n  model: m\n  dataset: DATA\n  epochs: 3\n"},
        "artifacts/train2.yaml",
        1,
    ),
    "load.unknown-field": (
        {
            "artifacts/train.yaml": "training:\n  id: TRAIN\n  model: m\n  dataset: DATA\n  epochs: 3\n  "
            "optimizer:\n    type: SGD\n    momentun: 0.9\n"
        },
        "artifacts/train.yaml",
        8,
    ),
    "load.unrecognised-file": ({"artifacts/notes.yaml": "just: some notes\n"}, "artifacts/notes.yaml", 1),
    "config.unknown-rule": (
        {
            "mle3.yaml": "project: t\nexternal: ['SYS-*']\nrules:\n  trace.no-such-rule:\n    severity: info\n    "
            "reason: testing\n"
        },
        "mle3.yaml",
        4,
    ),
    "trace.dangling-ref": (
        {
            MODEL: None,
            "artifacts/m.yaml": "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: "
            "0.7}}\n  training_data: {dataset_version: DATA-v1}\n  traceability:\n    requirements:\n      - REQ-D\n "
            "     - REQ-NOPE\n",
        },
        "artifacts/m.yaml",
        9,
    ),
    "trace.wrong-kind": (
        {
            "artifacts/model2.yaml": "model_version:\n  id: MODEL-v2\n  training_run: TRAIN\n  metrics: {test: "
            "{mAP_50: 0.7}}\n  training_data: {dataset_version: DATA-v1}\n  traceability:\n    requirements: "
            "[REQ-P]\n    previous_version: REQ-P\n"
        },
        "artifacts/model2.yaml",
        8,
    ),
    "trace.requirement-uncovered": (
        {"requirements/REQ-D2.yaml": "requirement:\n  id: REQ-D2\n  type: ml_data\n"},
        "requirements/REQ-D2.yaml",
        3,
    ),
    "trace.dataset-no-requirement": (
        {"artifacts/data2.yaml": "dataset:\n  id: OTHER\n  version: v1\n"},
        "artifacts/data2.yaml",
        1,
    ),
    "trace.config-no-dataset": (
        {"artifacts/train.yaml": "training:\n  id: TRAIN\n  model: m\n  epochs: 3\n"},
        "artifacts/train.yaml",
        1,
    ),
    "trace.model-no-requirements": (
        {MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  training_data: {dataset_version: DATA-v1}\n"},
        MODEL,
        1,
    ),
    "trace.model-no-training": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_data: {dataset_version: DATA-v1}\n  traceability: "
            "{requirements: [REQ-P]}\n  metrics: {test: {mAP_50: 0.7}}\n"
        },
        MODEL,
        1,
    ),
    "trace.model-no-dataset": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  traceability: {requirements: [REQ-P]}\n "
            " metrics: {test: {mAP_50: 0.7}}\n"
        },
        MODEL,
        1,
    ),
    "trace.previous-version-cycle": (
        {
            "artifacts/ma.yaml": "model_version:\n  id: M-a\n  training_run: TRAIN\n  training_data: "
            "{dataset_version: DATA-v1}\n  metrics: {test: {mAP_50: 0.7}}\n  traceability:\n    requirements: "
            "[REQ-P]\n    previous_version: M-b\n",
            "artifacts/mb.yaml": "model_version:\n  id: M-b\n  training_run: TRAIN\n  training_data: "
            "{dataset_version: DATA-v1}\n  metrics: {test: {mAP_50: 0.7}}\n  traceability:\n    requirements: "
            "[REQ-P]\n    previous_version: M-a\n",
        },
        "artifacts/ma.yaml",
        8,
    ),
    "trace.config-unused": (
        {"artifacts/train3.yaml": "training:\n  id: TRAIN-3\n  model: m\n  dataset: DATA\n  epochs: 3\n"},
        "artifacts/train3.yaml",
        1,
    ),
    "consistency.dataset-version": (
        {
            "artifacts/data-other.yaml": "dataset:\n  id: OTHER\n  version: v1\n  requirements: [REQ-D]\n",
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.7}}\n  "
            "training_data:\n    dataset_version: OTHER-v1\n  traceability: {requirements: [REQ-P]}\n",
        },
        MODEL,
        6,
    ),
    "consistency.sample-count": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.7}}\n  "
            "training_data:\n    dataset_version: DATA-v1\n    train_samples: 699\n  traceability: {requirements: "
            "[REQ-P]}\n"
        },
        MODEL,
        7,
    ),
    "consistency.artifact-missing": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.7}}\n  "
            "artifacts:\n    weights: models/missing.pt\n  training_data: {dataset_version: DATA-v1}\n  "
            "traceability: {requirements: [REQ-P]}\n"
        },
        MODEL,
        6,
    ),
    "consistency.path-outside": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.7}}\n  "
            "artifacts:\n    weights: ../../etc/passwd\n  training_data: {dataset_version: DATA-v1}\n  traceability: "
            "{requirements: [REQ-P]}\n"
        },
        MODEL,
        6,
    ),
    "consistency.split-ratio": (
        {
            "artifacts/data.yaml": "dataset:\n  id: DATA\n  version: v1\n  requirements: [REQ-P]\n  splits:\n    "
            "train: {samples: 500}\n    val: {samples: 400}\n    test: {samples: 100}\n",
            "requirements/REQ-D.yaml": "requirement:\n  id: REQ-D\n  type: other\n",
        },
        "artifacts/data.yaml",
        5,
    ),
    "consistency.split-overlap": (
        {
            "artifacts/data.yaml": "dataset:\n  id: DATA\n  version: v1\n  requirements: [REQ-D]\n  classes: [car]\n "
            " splits:\n    train: {samples: 700, path: data/x, instances: {car: 900}}\n    val: {samples: 150, path: "
            "data/x}\n    test: {samples: 150}\n"
        },
        "artifacts/data.yaml",
        8,
    ),
    "artifact.not-materialized": (
        {
            "models/w.pt": "version https://git-lfs.github.com/spec/v1\noid sha256:" + "ab" * 32 + "\nsize 6291456\n",
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.7}}\n  "
            "artifacts:\n    weights: models/w.pt\n  training_data: {dataset_version: DATA-v1}\n  traceability: "
            "{requirements: [REQ-P]}\n",
        },
        MODEL,
        6,
    ),
    "load.id-invalid": (
        {"requirements/bad.yaml": "requirement:\n  title: x\n  id: ../../tmp/evil-pwned\n"},
        "requirements/bad.yaml",
        3,
    ),
    "dataset.version-conflict": (
        {
            "artifacts/data2.yaml": "dataset:\n  id: DATA\n  version: v1\n  fingerprint: sha256:0123\n  "
            "requirements: [REQ-D]\n"
        },
        "artifacts/data2.yaml",
        1,
    ),
    "criteria.unmet": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.3}}\n  "
            "training_data: {dataset_version: DATA-v1}\n  traceability:\n    requirements: [REQ-P]\n  status: "
            "validated\n"
        },
        MODEL,
        7,
    ),
    "criteria.unreadable": (
        {
            "requirements/REQ-P.yaml": "requirement:\n  id: REQ-P\n  type: performance\n  derived_from: [REQ-D]\n  "
            "criteria:\n    - metric: mAP_50\n      split: test\n      min: 0.5\n    - metric: recall\n      split: "
            "test\n      min: lots\n"
        },
        "requirements/REQ-P.yaml",
        9,
    ),
    "criteria.not-evaluable": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {validation: {mAP_50: 0.9}}\n  "
            "training_data: {dataset_version: DATA-v1}\n  traceability:\n    requirements: [REQ-P]\n"
        },
        MODEL,
        7,
    ),
    "consistency.id-shadowed": (
        {"requirements/DATA.yaml": "requirement:\n  id: DATA\n  type: other\n  title: shares the data set's id\n"},
        "requirements/DATA.yaml",
        2,
    ),
    "status.unknown": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.7}}\n  "
            "training_data: {dataset_version: DATA-v1}\n  traceability: {requirements: [REQ-P]}\n  status: shipped\n"
        },
        MODEL,
        7,
    ),
    "status.upstream-broken": (
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.7}}\n  "
            "training_data: {dataset_version: DATA-v1}\n  traceability: {requirements: [REQ-P]}\n  status: validated\n",
            "artifacts/train.yaml": "training:\n  id: TRAIN\n  model: m\n  dataset: DATA\n  augmentation: "
            "no-such-aug.yaml\n  epochs: 3\n",
        },
        MODEL,
        7,
    ),
    "approach.missing": ({APPROACH_FILE: APPROACH_TEXT}, "artifacts/train.yaml", 1),
    "approach.early-stopping": (
        {APPROACH_FILE: APPROACH_TEXT, "artifacts/train.yaml": TRAIN_FOLLOWING + "  early_stopping: {patience: 9}\n"},
        "artifacts/train.yaml",
        7,
    ),
    "training.early-stopping-inert": (
        {"artifacts/train.yaml": BASE_TRAIN + "  early_stopping: {patience: 10}\n"},
        "artifacts/train.yaml",
        6,
    ),
    "trace.inverted-derivation": (
        {
            "requirements/REQ-P.yaml": "requirement:\n  id: REQ-P\n  title: perf\n  type: performance\n"
            "  derived_from:\n    - SYS-1\n    - REQ-D\n"
        },
        "requirements/REQ-P.yaml",
        7,
    ),
    "approach.tuning-reference": (
        {APPROACH_FILE: APPROACH_TEXT + "  tuning:\n    studies: [NO-STUDY]\n"},
        APPROACH_FILE,
        7,
    ),
    "approach.exit-unmet": (
        {
            APPROACH_FILE: APPROACH_TEXT,
            "artifacts/train.yaml": TRAIN_FOLLOWING,
            RUN_FILE: RUN_TEXT.replace("status: success", "status: failed"),
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: RUN-20260101-000000-abcd\n  status: validated\n",
        },
        MODEL,
        3,
    ),
    "approach.entry-unmet": (
        {
            APPROACH_FILE: APPROACH_TEXT,
            "artifacts/train.yaml": TRAIN_FOLLOWING,
            RUN_FILE: RUN_TEXT.replace("matches: true", "matches: false"),
        },
        RUN_FILE,
        1,
    ),
    "approach.hardware-deviation": (
        {
            APPROACH_FILE: APPROACH_TEXT + "  environment: {hardware: '2x NVIDIA A100, amp'}\n",
            "artifacts/train.yaml": TRAIN_FOLLOWING,
            RUN_FILE: RUN_TEXT,
        },
        RUN_FILE,
        1,
    ),
}


def audit_entry_file(action: str, details: dict) -> dict[str, str]:
    """One audit entry in mle3's own format, as a file override (its name is its hash)."""
    from mle3 import audit

    body = {
        "action": action,
        "actor": "T <t@example.com>",
        "details": details,
        "host": "h",
        "item": None,
        "parents": [],
        "time": "2026-01-01T00:00:00+00:00",
    }
    digest = audit.entry_hash(body)
    raw = audit.canonical_body(body).decode()
    return {f"artifacts/audit/{digest[:2]}/{digest}.json": raw[:-1] + f',"hash":"{digest}"}}\n'}


def baseline_entry(items: dict, **details) -> dict[str, str]:
    return audit_entry_file(
        "baseline",
        {
            "name": "B1",
            "message": None,
            "commit": "a" * 40,
            "tag": "baseline/B1",
            "fingerprint_version": 2,
            "count": len(items),
            "items": items,
            "parts": [],
            "release": None,
            **details,
        },
    )


_BASELINE_FILE = next(iter(baseline_entry({"GONE-1": "sha256:" + "0" * 64})))
CASES.update(
    {
        # approved at the baseline with other content than the architecture has now
        "baseline.changed": (baseline_entry({"ARCH-1": "sha256:" + "0" * 64}), "requirements/ARCH.yaml", 1),
        # an item of the baseline that is gone: found at the baseline's entry
        "baseline.removed": (baseline_entry({"GONE-1": "sha256:" + "0" * 64}), _BASELINE_FILE, 1),
        # the workspace is in no git repository: the tag is nowhere
        "baseline.tag-missing": (baseline_entry({}), next(iter(baseline_entry({}))), 1),
        "baseline.malformed": (
            baseline_entry({}, commit="HEAD"),
            next(iter(baseline_entry({}, commit="HEAD"))),
            1,
        ),
    }
)


def findings_of(root):
    return run_checks(load_workspace(root, use_cache=False)).findings


def test_base_workspace_passes_every_rule(make_ws):
    findings = findings_of(make_ws())
    assert findings == [], [f.one_line() for f in findings]


#: rules whose failing case needs real files on disk: the test file (below tests/) and the test
#: that makes the rule fire (None: the whole file)
TESTED_ELSEWHERE = {
    "load.unreadable": ("unit/rules/test_rules.py", "test_unreadable_file_is_a_finding"),
    "data.changed": ("unit/datasets/test_datasets.py", "test_verify_and_check_detect_changed_added_removed_files"),
    "data.manifest": ("unit/datasets/test_datasets.py", "test_edited_manifest_breaks_the_fingerprint"),
    "tuning.test-split": ("unit/tuning/test_tune.py", "test_an_objective_on_the_test_split_is_refused"),
    "tuning.unaccepted": (
        "unit/tuning/test_tune.py",
        "test_a_study_records_every_trial_as_a_run_that_never_sees_the_test_split",
    ),
    "data.root-unavailable": (
        "unit/datasets/test_data_roots.py",
        "test_unmapped_root_is_one_line_for_commands_and_a_warning_for_check",
    ),
    "data.unverified": (
        "unit/datasets/test_data_roots.py",
        "test_a_big_data_set_is_checked_by_folder_mtimes_and_verify_finds_in_place_edits",
    ),
    "data.label-quality": ("unit/datasets/test_datasets.py", "test_label_problems_are_found_with_file_and_line"),
    "data.metadata-quality": (
        "unit/datasets/test_characteristics.py",
        "test_wrong_rows_are_findings_with_line_and_column_and_the_record_is_complete",
    ),
    "consistency.config-drifted": (
        "unit/approvals/test_approvals.py",
        "test_editing_the_configuration_after_training_leaves_the_model_bound_to_its_run",
    ),
    "data.retired": (
        "unit/datasets/test_retire.py",
        "test_a_retired_version_is_recorded_skipped_by_a_bare_id_and_reported",
    ),
    "data.night-list": (
        "unit/datasets/test_night_list.py",
        "test_listed_images_that_resolve_to_no_file_are_a_check_warning",
    ),
    "workspace.tracked-state": (
        "scenarios/test_trust_caches.py",
        "test_a_tracked_local_yaml_does_not_remap_roots_and_check_warns",
    ),
    "approval.stale": ("unit/approvals/test_approvals.py", "test_approval_is_bound_to_the_fingerprint_and_goes_stale"),
    "approval.missing": (
        "unit/approvals/test_approvals.py",
        "test_validated_model_whose_approval_went_stale_is_an_error",
    ),
    "approval.audit-log": ("unit/approvals/test_approvals.py", "test_audit_tampering_is_detected"),
    "approval.signature": ("unit/approvals/test_signing.py", None),
    "quantization.drop": (
        "unit/runner/test_quantize.py",
        "test_gate_flags_a_drop_over_the_threshold_and_blocks_promotion",
    ),
    "quantization.stale-parent": ("unit/runner/test_quantize.py", "test_changed_parent_makes_child_stale"),
    "training.overfit": ("unit/test_caveats.py", "test_rules_fire_on_a_recorded_run_with_the_thresholds_of_mle3_yaml"),
    "training.underfit": ("unit/test_caveats.py", "test_underfit_by_high_training_loss_or_flat_low_map"),
    "training.model-run-unfinished": (
        "scenarios/test_trust_runs.py",
        "test_a_model_of_a_run_that_did_not_end_success_is_not_promotable",
    ),
    "training.epochs-unreadable": (
        "scenarios/test_trust_runs.py",
        "test_a_garbage_epochs_line_is_one_finding_with_file_and_line",
    ),
    "baseline.tag-moved": (
        "unit/approvals/test_baseline.py",
        "test_a_moved_tag_is_an_error_and_a_deleted_one_a_warning",
    ),
    "approval.conflict": (
        "scenarios/test_teams.py",
        "test_approve_and_reject_on_two_branches_conflict_until_decided_again",
    ),
    "approval.duties": (
        "scenarios/test_teams.py",
        "test_one_person_in_two_roles_on_two_branches_is_a_finding_after_the_merge",
    ),
}


def test_every_rule_has_a_failing_case():
    missing = sorted(set(RULES) - set(CASES) - set(TESTED_ELSEWHERE))
    assert not missing, f"rules without a failing fixture: {missing}"


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_at_file_and_line(make_ws, rule_id):
    overrides, file, line = CASES[rule_id]
    findings = [f for f in findings_of(make_ws(overrides)) if f.rule == rule_id]
    assert findings, f"{rule_id} did not fire"
    f = findings[0]
    assert f.file == file, f.one_line()
    if line is not None:
        assert f.line == line, f.one_line()
    assert f.severity in ("error", "warning", "info")
    assert f.message


def test_unreadable_file_is_a_finding(tmp_path):
    from mle3.workspace.load import parse_file

    parsed = parse_file(str(tmp_path), "gone.yaml")
    assert parsed.problem and parsed.problem[3] == "load.unreadable"


def test_all_schema_problems_are_reported_not_only_the_first(make_ws):
    root = make_ws(
        {
            "artifacts/train.yaml": "training:\n  id: TRAIN\n  model: m\n  dataset: DATA\n  epochs: many\n  "
            "batch_size: -1\n  optimizer:\n    lr: fast\n"
        }
    )
    schema = sorted((f.line, f.field) for f in findings_of(root) if f.rule == "load.schema")
    assert schema == [(5, "training.epochs"), (6, "training.batch_size"), (8, "training.optimizer.lr")]


def test_duplicate_id_names_both_locations(make_ws):
    root = make_ws(CASES["load.duplicate-id"][0])
    f = next(f for f in findings_of(root) if f.rule == "load.duplicate-id")
    assert (
        "artifacts/train.yaml:1" in f.message and f.file == "artifacts/train2.yaml" and "different content" in f.message
    )
    same = make_ws({"artifacts/train2.yaml": (root / "artifacts/train.yaml").read_text()})
    assert "with the same content" in next(f for f in findings_of(same) if f.rule == "load.duplicate-id").message


def test_a_version_given_to_two_models_is_reported_with_both_files(make_ws):
    model = (
        "model_version:\n  id: {id}\n  model_line: MODEL\n  version: v1.0.0\n  training_run: TRAIN\n  "
        "training_data: {{dataset_version: DATA-v1}}\n  traceability: {{requirements: [REQ-P]}}\n"
    )
    root = make_ws(
        {"artifacts/a.yaml": model.format(id="MODEL-RUN-1"), "artifacts/b.yaml": model.format(id="MODEL-RUN-2")}
    )
    f = next(f for f in findings_of(root) if f.rule == "load.duplicate-id")
    assert "version v1.0.0 of MODEL" in f.message and "artifacts/a.yaml" in f.message and f.file == "artifacts/b.yaml"
    from mle3 import load_workspace

    assert load_workspace(root, use_cache=False).get("MODEL-v1.0.0").id == "MODEL-RUN-1"  # the alias finds the first


def test_plural_file_items_have_their_own_lines(make_ws):
    root = make_ws(
        {"requirements/more.yaml": "requirements:\n  - id: R-1\n    type: other\n  - id: R-2\n    type: ml_data\n"}
    )
    f = next(f for f in findings_of(root) if f.rule == "trace.requirement-uncovered")
    assert (f.item, f.line) == ("R-2", 5)


def test_draft_model_failing_a_criterion_is_a_warning(make_ws):
    root = make_ws(
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.3}}\n  "
            "training_data: {dataset_version: DATA-v1}\n  traceability: {requirements: [REQ-P]}\n  status: draft\n"
        }
    )
    f = next(f for f in findings_of(root) if f.rule == "criteria.unmet")
    assert f.severity == "warning" and "0.3" in f.message


def test_dataset_criteria_checked_against_declared_counts(make_ws):
    root = make_ws({"artifacts/data.yaml": BASE_DATA.replace("car: 900", "car: 10")})
    f = next(f for f in findings_of(root) if f.rule == "criteria.unmet")
    assert f.item == "DATA-v1" and "car" in f.message and f.severity == "error"


def test_severity_override_and_ignore_need_a_reason(make_ws, cli):
    root = make_ws(
        {
            "artifacts/train3.yaml": CASES["trace.config-unused"][0]["artifacts/train3.yaml"],
            "mle3.yaml": "project: t\nexternal: ['SYS-*']\nrules:\n  trace.config-unused:\n    severity: off\n    "
            "reason: drafted early\n",
        }
    )
    assert not [f for f in findings_of(root) if f.rule == "trace.config-unused"]
    (root / "mle3.yaml").write_text("project: t\nrules:\n  trace.config-unused:\n    severity: info\n")
    code, out, err = cli("check", "-w", root, expect=2)
    assert code == 2 and "mle3.yaml:3" in err and "reason" in err and "Traceback" not in err


def test_bare_dataset_id_means_latest_version(make_ws):
    root = make_ws(
        {
            "artifacts/data-v10.yaml": BASE_DATA.replace("version: v1", "version: v10"),
            "artifacts/data-v9.yaml": BASE_DATA.replace("version: v1", "version: v9"),
        }
    )
    ws = load_workspace(root, use_cache=False)
    assert ws.resolve("DATA").key == "DATA-v10"
    assert ws.resolve("DATA-v9").version == "v9"


from conftest import BASE_FILES  # noqa: E402

import textwrap  # noqa: E402

BASE_DATA = textwrap.dedent(BASE_FILES["artifacts/data.yaml"]).lstrip("\n")


def test_a_misspelled_class_in_a_criterion_is_named_unknown_not_zero(make_ws):
    root = make_ws(
        {
            "requirements/REQ-D.yaml": "requirement:\n  id: REQ-D\n  type: ml_data\n  derived_from: [SYS-1]\n  "
            "criteria:\n    - class: carr\n      min_samples: 50\n      split: train\n"
        }
    )
    f = next(f for f in findings_of(root) if f.rule == "criteria.unmet")
    assert "unknown class 'carr'" in f.message and "DATA-v1 has car" in f.message and "actual 0" not in f.message


def test_label_errors_name_only_error_kinds_and_warnings_apart(make_ws):
    quality = (
        "  label_quality:\n    errors: 2\n    warnings: 3\n"
        "    by_kind: {bad-class: 1, box-outside: 1, empty-label: 1, missing-label: 2}\n"
        "    findings:\n      - {severity: error, kind: bad-class, file: a.txt, line: 1, message: m}\n"
        "      - {severity: error, kind: box-outside, file: b.txt, line: 1, message: m}\n"
        "      - {severity: warning, kind: empty-label, file: c.txt, line: null, message: m}\n"
    )
    root = make_ws({"artifacts/data.yaml": BASE_DATA + quality})
    f = next(f for f in findings_of(root) if f.rule == "data.label-quality")
    assert (
        f.message == "2 label errors recorded (bad-class 1, box-outside 1); 3 warnings (empty-label 1, missing-label 2)"
    ), f.message


def test_an_unreadable_criterion_keeps_its_requirement_and_the_readable_criteria(make_ws):
    root = make_ws(
        {
            "requirements/REQ-P.yaml": "requirement:\n  id: REQ-P\n  type: performance\n  derived_from: [REQ-D]\n  "
            "criteria:\n    - metric: mAP_50\n      split: test\n      min: 0.9\n    - metrc: recall\n"
        }
    )
    ws = load_workspace(root, use_cache=False)
    req = ws.resolve("REQ-P")
    assert req is not None and len(req.criteria) == 1 and req.unreadable_criteria[0][0] == 1
    found = {f.rule for f in run_checks(ws).findings}
    assert "criteria.unreadable" in found and "criteria.unmet" in found  # the readable one is still checked (0.7 < 0.9)


def test_a_metric_criterion_without_a_bound_is_unreadable_not_met(make_ws):
    root = make_ws(
        {
            "requirements/REQ-P.yaml": "requirement:\n  id: REQ-P\n  type: performance\n  derived_from: [REQ-D]\n  "
            "criteria:\n    - metric: mAP_50\n      split: test\n"
        }
    )
    ws = load_workspace(root, use_cache=False)
    assert ws.resolve("REQ-P").criteria == []
    found = [f for f in run_checks(ws).findings if f.rule == "criteria.unreadable"]
    assert found and "neither min nor max" in found[0].message


def test_every_rule_tested_elsewhere_names_a_test_that_exists():
    tests = Path(__file__).resolve().parents[2]
    for rule, (file, name) in TESTED_ELSEWHERE.items():
        path = tests / file
        assert path.is_file(), f"{rule}: no {file}"
        assert name is None or f"def {name}(" in path.read_text(), f"{rule}: no test {name} in {file}"


def test_an_unchanged_workspace_is_answered_without_importing_the_rules(make_ws):
    """The second `check` of an unchanged workspace reads the result cache: the rule families,
    the graph and networkx are not imported (their imports were two thirds of its time)."""
    import subprocess
    import sys

    import os

    root = make_ws()
    for path in [root, *root.rglob("*")]:  # files older than the check: their stamps can be trusted
        os.utime(path, (1_700_000_000, 1_700_000_000))
    code = (
        "import sys; from mle3.rules import check_workspace; r = check_workspace(sys.argv[1]); "
        "print(len(r.findings), 'networkx' in sys.modules, 'mle3.rules.families' in sys.modules)"
    )
    runs = [subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True) for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["0", "True", "True"], ["0", "False", "False"]], runs


def test_early_stopping_that_cannot_fire_is_no_exit_criterion():
    from types import SimpleNamespace as NS

    from mle3.rules.approach import exit_check

    approach = NS(id="A", exit_criteria=NS(metric=None, epoch_budget=None))
    cfg = NS(epochs=20, early_stopping=NS(patience=50, metric=None))
    run = NS(id="R", status="success", epochs_completed=12, early_stop_epoch=None, _raw={})
    verdict = exit_check(None, run, cfg, approach)
    assert not verdict.met
    assert (
        verdict.lines[-1] == "early stopping cannot fire (patience 50 >= 20 epochs): no exit criterion of this training"
    )
    cfg.early_stopping.patience = 5
    assert exit_check(None, run, cfg, approach).lines[-1] == "early stopping did not fire"

"""The whole journey on the set-up the README recommends: a git workspace whose data lies
below a data root outside it, approvals made in a second clone and merged back.

an approach (08-65) the configuration follows -> register (with its per-image metadata
against an ODD) -> check (share, coverage, combination, similarity criteria) -> train
(slices evaluated) -> export -> PTQ -> QAT (slices of the children) -> evaluate -> every
work product (08-65, 04-11, 11-07, 13-51 consistency, 13-65, 11-06) -> approve (in a clone)
-> merge -> promote validated -> promote released -> signed release bundle, verified elsewhere -> the release informs
by e-mail (13-52, a real SMTP server) -> assessment view and sphinx-needs -> site.
Each step runs through the CLI as a user would; each later capability extends this test.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, require_git, require_weasyprint, write_files

pytestmark = pytest.mark.slow

FILES = {
    "mle3.yaml": (
        "project: journey\ndata_roots:\n  nas: null\nslices:\n  min_images: 1\n"
        "policy:\n  approvals:\n    '08-65': [ml_lead]\n    '04-11': [ml_engineer]\n"
        "    '11-07': [data_owner]\n    '13-65': [ml_lead]\n    '13-51': [safety_assessor]\n"
        "    '11-06': [ml_lead, safety_assessor]\n    validated: [ml_lead]\n    released: [ml_lead, safety_assessor]\n"
    ),
    ".gitignore": ".mle3/\nartifacts/runs/*/ultralytics/weights/\nartifacts/runs/*/qat/weights/\n",
    "requirements/R.yaml": (
        "requirements:\n"
        "  - id: REQ-DATA\n    type: ml_data\n    title: Shapes data\n    derived_from: [REQ-PERF]\n    odd: ODD-J\n"
        "    criteria:\n"
        "      - samples: train\n        min: 10\n"
        "      - {characteristic: time_of_day, split: train, share: {night: [0.15, 0.35]}}\n"
        "      - {characteristic: weather, coverage: [clear], splits: [train, val, test]}\n"
        "      - {samples: train, where: {weather: [rain, fog]}, min: 5}\n"
        "      - {characteristic: time_of_day, similar: [train, test], max_tvd: 0.3}\n"
        "  - id: REQ-PERF\n    type: performance\n    title: Detector quality\n"
        "    criteria:\n      - metric: mAP_50\n        split: test\n        min: 0.0\n"
        "      - {metric: mAP_50, split: test, where: {time_of_day: day}, min: 0.0}\n"
    ),
    "requirements/ODD.yaml": (
        "odd:\n  id: ODD-J\n  title: shapes by day and night\n  characteristics:\n"
        "    time_of_day: [day, dusk, night]\n    weather: [clear, rain, fog]\n"
        "    sequence: {type: string, role: group}\n"
    ),
    "requirements/APPROACH.yaml": (
        "approach:\n  id: J-APPROACH\n  title: shapes detector training and validation\n  requirements: [REQ-PERF]\n"
        "  entry_criteria: {dataset_verified: true}\n"
        "  exit_criteria:\n    epoch_budget: 2\n    early_stopping: {metric: 'mAP@0.5', patience: 5}\n"
        "  data: {split_policy: registered splits, sources: [synthetic shapes], datasets: [J-DATA]}\n"
        "  environment: {hardware: cpu, framework: ultralytics}\n"
        "  interface: {input: RGB 64x64, output: boxes with class and confidence}\n"
        "  robustification: [weather augmentation (aug_config_v2)]\n"
    ),
    "requirements/ARCH.yaml": "architecture:\n  id: ARCH-1\n  title: one-stage detector\n  requirements: [REQ-PERF]\n",
    "artifacts/training/J.yaml": (
        "training:\n  id: J-TRAIN-001\n  model_line: J-MODEL\n  model: yolov8n.yaml\n  dataset: J-DATA\n  "
        "architecture: ARCH-1\n  approach: J-APPROACH\n"
        "  requirements: [REQ-PERF]\n  epochs: 2\n  batch_size: 8\n  image_size: 64\n  optimizer: {type: AdamW, lr: "
        "0.002}\n"
        '  early_stopping: {patience: 5, metric: "mAP@0.5"}\n  augmentation: aug_config_v2.yaml\n'
        "  hardware: {workers: 0}\n  reproducibility: {seed: 1, deterministic: true}\n"
    ),
    "artifacts/aug_config_v2.yaml": (REPO / "artifacts/augmentation/aug_config_v2.yaml").read_text(),
}


class Mailbox(list):
    port: int


def smtp_server(request: pytest.FixtureRequest) -> Mailbox:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) for the test's duration: (recipients, bytes) per message."""
    from aiosmtpd.controller import Controller

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            box.append((list(envelope.rcpt_tos), envelope.original_content))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        box.port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    request.addfinalizer(controller.stop)
    return box


def git(cwd: Path, *args: str, name: str = "Tom Trainer") -> str:
    return subprocess.run(
        ["git", "-c", f"user.name={name}", "-c", f"user.email={name.split()[0].lower()}@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_the_whole_journey_on_a_rooted_git_workspace_with_a_merged_clone(cli, tmp_path, monkeypatch, request):
    import jsonschema

    from mle3.cli.shapes import find as find_shape
    from mle3.datasets.synthetic import generate

    require_git()
    require_weasyprint()
    nas = tmp_path / "nas"
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    mails = smtp_server(request)
    # 13-52: the safety team is informed of a release by e-mail (queued, delivered by `mle3 notify`)
    notifications = (
        "notifications:\n  deliver: queue\n  backoff: 0\n"
        f"  smtp: {{host: 127.0.0.1, port: {mails.port}, security: none, sender: mle3@example.com, timeout: 5}}\n"
        "  inform:\n    - on: [promote.released]\n      email: [safety@example.com]\n"
    )
    ws = write_files(tmp_path / "ws", {**FILES, "mle3.yaml": FILES["mle3.yaml"] + notifications})
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.name", "Tom Trainer")
    git(ws, "config", "user.email", "tom@example.com")
    data_yaml = generate(nas / "shapes", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)

    def ok(*args: str, as_json: bool = True) -> dict:
        code, out, err = cli(*args, "-w", ws, *(("--format", "json") if as_json else ()))
        assert code == 0, (args, out, err)
        doc = json.loads(out) if as_json and out.strip() else {}
        # every document on the way is what `mle3 schema` publishes for it
        if doc:
            shape = find_shape(doc["schema"])
            assert shape is not None, f"{args}: no published schema {doc['schema']}"
            jsonschema.validate(doc, shape)
        return doc

    # register below the root, outside the workspace: the record names the root, not the machine
    reg = ok("dataset", "register", str(data_yaml), "--id", "J-DATA", "--version", "v1", "-r", "REQ-DATA")
    record = next((ws / "artifacts/datasets").glob("J-DATA-v1.*.yaml")).read_text()
    assert "data_root: nas" in record and str(nas) not in record, reg
    # the generator's metadata table, read against the ODD, is in the record and the manifest
    assert reg["metadata"]["odd"] == "ODD-J" and reg["metadata"]["errors"] == 0, reg["metadata"]
    assert reg["characteristics"]["names"][:2] == ["time_of_day", "weather"], reg["characteristics"]
    assert reg["leakage"]["shared_groups"]["sequence"]["count"] == 0
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "requirements, configuration, data set")
    first = ok("check")
    assert not [f for f in first["findings"] if f["rule"] in ("criteria.unmet", "data.metadata-quality")], first

    # train, export, PTQ, QAT: all read the data through the root
    trained = ok("train", "J-TRAIN-001")
    model = trained["model_version"]
    ok("export", model, as_json=False)
    for method in ("ptq", "qat"):
        extra = ("--calibration-images", "6") if method == "ptq" else ("--qat-epochs", "1")
        q = ok("quantize", model, "--method", method, *extra)
        assert q["status"] == "success", q

    # per-condition metrics: written by training (the data set has metadata), by each
    # quantization for its child, and on demand; the slice criterion reads them
    def model_doc(model_id: str) -> dict:
        for path in (ws / "artifacts/models").glob("*.yaml"):
            doc = yaml.safe_load(path.read_text())["model_version"]
            if doc["id"] == model_id:
                return doc
        raise AssertionError(model_id)

    slices = model_doc(model)["slices"]
    assert {"split": "test", "where": {"time_of_day": "day"}} in [
        {"split": r["split"], "where": r["where"]} for r in slices["results"]
    ], slices
    children = [yaml.safe_load(p.read_text())["model_version"] for p in (ws / "artifacts/models").glob("*int8*.yaml")]
    assert len(children) == 2 and all(c.get("slices", {}).get("results") for c in children), children
    evaluated = ok("evaluate", model)
    assert any(r["where"] == {} and r["split"] == "test" for r in evaluated["results"]), evaluated
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "training, export, quantization")
    check = ok("check")
    assert check["summary"]["errors"] == 0, check
    # the run is judged against the approach its configuration follows: entry and exit met, cpu as required
    approach_findings = [f for f in check["findings"] if f["rule"].startswith("approach.")]
    assert not approach_findings, approach_findings
    unevaluable = [f["message"] for f in check["findings"] if f["rule"] == "criteria.not-evaluable"]
    assert not unevaluable, unevaluable

    # every work product renders (DRAFT) from the rooted data
    docs = tmp_path / "docs"
    for wp, item in (
        ("08-65", "J-APPROACH"),
        ("04-11", "J-TRAIN-001"),
        ("11-07", "J-DATA-v1"),
        ("13-51", model),
        ("13-65", model),
        ("11-06", model),
    ):
        out = ok("report", wp, item, "-o", str(docs / f"{wp}.pdf"))
        assert out["documents"][0]["approved"] is False and (docs / f"{wp}.pdf").stat().st_size > 5000
    # the characteristics and the slices are in the work products (HTML of the same pages)
    for wp, item, section in (("11-07", "J-DATA-v1", "Data characteristics"), ("13-65", model, "Per-condition")):
        ok("report", wp, item, "--to", "html", "-o", str(docs / f"{wp}.html"))
        assert section in (docs / f"{wp}.html").read_text(), wp

    # 13-51: every link of the trace is consistent by its facts (weights, data fingerprint below the root, criteria)
    ok("report", "13-51", model, "--to", "html", "-o", str(docs / "13-51.html"))
    consistency = (docs / "13-51.html").read_text()
    assert "INCONSISTENT" not in consistency and "hashes to the recorded sha256" in consistency
    assert "the registered one" in consistency and "parent fingerprint" in consistency  # the PTQ/QAT children

    # the approvals are made in a second clone, on a branch, and merged back
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ws), str(clone)], check=True)
    for role, item, name in (
        ("ml_lead", "J-APPROACH", "Lea Lead"),
        ("ml_engineer", "J-TRAIN-001", "Eve Engineer"),
        ("data_owner", "J-DATA-v1", "Dan Owner"),
        ("ml_lead", model, "Lea Lead"),
        ("safety_assessor", model, "Sam Assessor"),
    ):
        code, out, err = cli("approve", item, "--role", role, "--name", name, "-w", clone)
        assert code == 0, (role, out, err)
    # the semantic half of 13-51: a review record of the model's trace, approved by the assessor
    (clone / "requirements" / "REV-J.yaml").write_text(
        f"review:\n  id: REV-J\n  title: semantic review of {model}\n  reviews: [{model}]\n"
        "  reviewer: Sam Assessor\n  date: 2026-12-02\n  scope: semantic coherence of the trace\n"
        "  checklist:\n    - {question: the performance requirement fits the intended use, result: pass}\n"
        f"  sampled_links:\n    - {{source: {model}, relation: traces_to, target: REQ-PERF, result: consistent}}\n"
        "  result: passed\n"
    )
    code, out, err = cli("approve", "REV-J", "--role", "safety_assessor", "--name", "Sam Assessor", "-w", clone)
    assert code == 0, (out, err)
    git(clone, "add", "-A", name="Lea Lead")
    git(clone, "commit", "-qm", "approvals", name="Lea Lead")
    git(ws, "pull", "-q", "--no-rebase", str(clone), "main")
    ok("audit", "verify")

    promoted = ok("promote", model, "--to", "validated")
    validated = promoted.get("model_version") or model
    ok("promote", validated, "--to", "released")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "release")
    status = yaml.safe_load(
        next(
            p
            for p in (ws / "artifacts/models").glob("*.yaml")
            if yaml.safe_load(p.read_text())["model_version"]["id"] == validated
        ).read_text()
    )
    assert status["model_version"]["status"] == "released"

    # the release informed the safety team: queued by promote, delivered now, recorded in the audit log
    assert not mails
    delivered = ok("notify")
    assert delivered["delivered"] == 1 and delivered["undelivered"] == 0, delivered
    assert [rcpt for rcpt, _ in mails] == [["safety@example.com"]]
    message = email.message_from_bytes(mails[0][1], policy=email.policy.default)
    assert validated in str(message["Subject"]) and "released" in str(message["Subject"])
    assert message["X-Mle3-Item"] == validated
    ok("report", "13-52", validated, "--to", "html", "-o", str(docs / "13-52.html"))
    assert "safety@example.com" in (docs / "13-52.html").read_text()

    # the signed release bundle, approved (the 13-52 is a record, never approved), its key from
    # the environment as CI holds it; verified in a new process on a "laptop" with no workspace
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    release_key = ec.generate_private_key(ec.SECP256R1())
    pem = release_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    published = tmp_path / "supplier-release.pub"
    published.write_bytes(
        release_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    monkeypatch.setenv("MLE3_RELEASE_KEY", pem.decode())
    package = ok("report", "release", validated, "--release", "-o", str(tmp_path / "release"))
    monkeypatch.delenv("MLE3_RELEASE_KEY")
    assert package["signed"], package
    documents = {d["wp"]: d for d in package["documents"]}
    assert all(d["approved"] for wp, d in documents.items() if wp != "13-52"), package
    assert {"08-65", "13-51", "13-52"} <= set(documents), package
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    received = laptop / "release"
    shutil.copytree(tmp_path / "release", received)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLE3_")}
    proc = subprocess.run(
        [sys.executable, "-m", "mle3", "verify", str(received), "--key", str(published), "--format", "json"],
        cwd=laptop,
        env=env,
        capture_output=True,
        text=True,
    )
    verified = json.loads(proc.stdout)
    assert proc.returncode == 0 and verified["ok"] and verified["pinned"], [
        c for c in verified["checks"] if not c["ok"]
    ]
    assert {"model signature", "release gate", "audit"} <= {c["area"] for c in verified["checks"]}
    children = json.loads((received / "release.json").read_text())["children"]
    assert len(children) == 2 and all((received / "model" / c).is_dir() for c in children)  # PTQ and QAT
    ok("report", "13-51", validated, "--to", "html", "-o", str(docs / "13-51-released.html"))
    released_51 = (docs / "13-51-released.html").read_text()
    assert "Reviews (semantic consistency)" in released_51 and "Sam Assessor" in released_51
    assert "INCONSISTENT" not in released_51
    assert (tmp_path / "release" / "MANIFEST.sha256").is_file()

    # the assessment view finds it: BP5 has its communication, and sphinx-needs link to S-CORE
    ok("report", "assessment", validated, "--to", "json", "-o", str(docs / "assessment.json"), as_json=False)
    view = json.loads((docs / "assessment.json").read_text())
    bp5 = next(p for x in view["processes"] for p in x["practices"] if p["id"] == "MLE.3.BP5")
    assert "safety@example.com" in bp5["reason"] and "no communication evidence" not in bp5["reason"], bp5
    ok("report", "assessment", validated, "--to", "needs", "-o", str(docs / "needs.json"), as_json=False)
    needs = json.loads((docs / "needs.json").read_text())
    assert "std_req__aspice_40__MLE-3-BP5" in json.dumps(needs)
    # a baseline of the release: the approved fingerprints, the package's digests, a tag; check compares with it
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "communications")
    base = ok("baseline", "release-1", "--release-dir", str(tmp_path / "release"))["baseline"]
    assert base["ok"] and base["items"] == 5 and base["release"]["files"], base  # approach, config, data, model, review
    assert git(ws, "tag", "--list", "baseline/*").split() == ["baseline/release-1"]
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "baseline release-1")
    code, out, err = cli("site", "-w", ws, "-o", tmp_path / "site")
    assert code == 0, err
    assert (tmp_path / "site" / "index.html").is_file()
    final = ok("check")
    assert final["summary"]["errors"] == 0, final
    assert not [f for f in final["findings"] if f["rule"].startswith("baseline.")], final

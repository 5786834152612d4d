"""A release an assessor verifies on another machine: the signed bundle of a model trained
on data below a data root, in a git repository, approved with SSH signatures, released;
copied to a folder with no workspace and verified there in a new process; then tampered
with, one kind of content at a time, and each tampering named."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require, require_git

MODEL = "TINY-MODEL-v0.1.0"
PEOPLE = {  # role -> (principal, item)
    "ml_engineer": ("eve@example.com", "TINY-TRAIN-001"),
    "data_owner": ("dan@example.com", "TINY-DATA-v1"),
    "ml_lead": ("lea@example.com", MODEL),
    "safety_assessor": ("sam@example.com", MODEL),
}


def ec_key(path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.with_suffix(".pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True, capture_output=True
    )


@pytest.fixture(scope="module")
def released(rooted_trained_template, tmp_path_factory):
    """The rooted workspace in git, approved by four signers, released, and its bundle."""
    require("ssh-keygen", shutil.which("ssh-keygen") is not None, "openssh-client")
    require_git()
    from mle3.cli import main

    template, nas = rooted_trained_template
    base = tmp_path_factory.mktemp("bundle")
    root = base / "ws"
    shutil.copytree(template, root, symlinks=True, ignore=shutil.ignore_patterns(".mle3"))
    env = {"MLE3_DATA_ROOT_NAS": str(nas)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    keys = base / "keys"
    keys.mkdir()
    lines = []
    signing = {}
    for role, (principal, _) in PEOPLE.items():
        name = principal.split("@")[0]
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
        pub = " ".join((keys / f"{name}.pub").read_text().split()[:2])
        lines.append(f'{principal} namespaces="mle3-approval" {pub} roles={role}')
        signing[role] = keys / name
    (root / "allowed_signers").write_text("\n".join(lines) + "\n")
    cfg = root / "mle3.yaml"
    cfg.write_text(cfg.read_text() + "policy:\n  require_signatures: true\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "trained")
    try:
        for role, (principal, item) in PEOPLE.items():
            name = f"{principal.split('@')[0].title()} <{principal}>"
            args = ["approve", item, "--role", role, "--name", name, "--key", str(signing[role]), "-w", str(root)]
            assert main(args) == 0, args
        for target in ("validated", "released"):
            assert main(["promote", MODEL, "--to", target, "-w", str(root)]) == 0, target
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "released")
        key = ec_key(base / "release.pem")
        bundle = base / "bundle"
        code = main(["report", "release", MODEL, "-o", str(bundle), "--release", "--key", str(key), "-w", str(root)])
        assert code == 0
    finally:
        for k, value in old.items():
            if value is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = value
    return root, bundle, key, nas


def fresh_copy(bundle: Path, where: Path) -> Path:
    target = where / "received"
    shutil.copytree(bundle, target)
    return target


def verify_elsewhere(bundle: Path, *args: str) -> tuple[int, dict]:
    """``mle3 verify`` in a new process, in a folder with no workspace and no data root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLE3_")}
    cwd = bundle.parent / "elsewhere"
    cwd.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "mle3", "verify", str(bundle), "--format", "json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {"stderr": proc.stderr}


def test_the_bundle_verifies_on_another_machine(released, tmp_path):
    _, bundle, key, _ = released
    copy = fresh_copy(bundle, tmp_path)
    code, result = verify_elsewhere(copy, "--key", str(key.with_suffix(".pub")))
    failed = [c for c in result["checks"] if not c["ok"]]
    assert code == 0 and result["ok"] and not failed, failed
    assert result["pinned"] and result["model"] == MODEL
    areas = {c["area"] for c in result["checks"]}
    assert {
        "files",
        "release key",
        "contents",
        "model signature",
        "attestation",
        "data",
        "audit",
        "fingerprints",
        "approvals",
        "documents",
        "release gate",
    } <= areas, areas
    signers = {
        c["detail"].split("signed by ")[1].split(",")[0]
        for c in result["checks"]
        if c["area"] == "approvals" and "signed by " in c["detail"]
    }
    assert signers == {p for p, _ in PEOPLE.values()}
    # nothing was written into the bundle while verifying
    assert not (copy / "workspace" / ".mle3").exists()


def test_the_bundle_holds_what_an_assessor_needs(released):
    _, bundle, _, _ = released
    index = json.loads((bundle / "release.json").read_text())
    assert index["format"] == "mle3.bundle/1" and index["commit"]["commit"] and not index["commit"]["dirty"]
    shipped = [a for a in index["artefacts"] if a["bundled"]]
    assert shipped and all((bundle / a["bundled"]).is_file() for a in shipped)
    assert {d["wp"] for d in index["documents"]} >= {"04-11", "11-07", "13-51", "13-65", "11-06", "13-52"}
    assert all((bundle / d["file"]).is_file() and (bundle / d["html"]).is_file() for d in index["documents"])
    assert (
        index["datasets"][0]["manifest"].startswith("data/") and (bundle / index["datasets"][0]["manifest"]).is_file()
    )
    assert index["audit"]["entries"] and len(index["audit"]["entries"]) <= index["audit"]["log_entries"]
    env = json.loads((bundle / "environment.json").read_text())
    assert "ultralytics" in {k.lower() for k in env["packages"]}
    check = json.loads((bundle / "check.json").read_text())
    assert check["schema"].startswith("mle3.check") and check["commit"]["commit"]
    # the attestations: in-toto Statements, the model's files as subject
    provenance = statement(bundle / "attestations/provenance.dsse.json")
    assert provenance["predicateType"] == "https://slsa.dev/provenance/v1"
    build = provenance["predicate"]["buildDefinition"]
    assert build["buildType"] == "urn:mle3:build-type:training:v1"
    assert build["externalParameters"]["configuration"]["id"] == "TINY-TRAIN-001"
    deps = {d["name"]: d for d in build["resolvedDependencies"]}
    assert deps["dataset:TINY-DATA-v1"]["digest"]["sha256"] == index["datasets"][0]["fingerprint"].split(":")[1]
    assert "pypi:ultralytics" in deps and any("gitCommit" in d.get("digest", {}) for d in deps.values())
    assert provenance["predicate"]["runDetails"]["metadata"]["invocationId"].startswith("RUN-")
    evaluation = statement(bundle / "attestations/evaluation.dsse.json")["predicate"]
    assert evaluation["criteria"] and {"criterion", "bound", "actual", "verdict"} <= set(evaluation["criteria"][0])
    approvals = statement(bundle / "attestations/approvals.dsse.json")["predicate"]["approvals"]
    assert {a["signer"] for a in approvals if a["counted"]} == {p for p, _ in PEOPLE.values()}
    sums = (bundle / "MANIFEST.sha256").read_text()
    assert "documents/13-65_" in sums and "workspace/allowed_signers" in sums
    page = (bundle / "index.html").read_text()
    assert "mle3 verify" in page and "model_signing verify key" in page and "ssh-keygen -Y verify" in page


def statement(path: Path) -> dict:
    return json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))


def test_standard_tools_verify_the_bundle(released, tmp_path):
    _, bundle, _, _ = released
    copy = fresh_copy(bundle, tmp_path)
    sums = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST.sha256"], cwd=copy, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    cli = shutil.which("model_signing") or str(Path(sys.executable).with_name("model_signing"))
    stock = subprocess.run(
        [cli, "verify", "key", "--signature", "signatures/model.sig", "--public_key", "release-key.pub", "model"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stock.returncode == 0 and "Verification succeeded" in stock.stdout + stock.stderr, stock.stderr
    # each approval: ssh-keygen on the exact message signed
    index = json.loads((copy / "release.json").read_text())
    checked = 0
    for msg in sorted((copy / "signatures/approvals").glob("*.msg")):
        entry = json.loads(
            (copy / "workspace" / next(e for e in index["audit"]["entries"] if msg.stem in e)).read_text()
        )
        principal = entry["details"]["name"].split("<")[1].rstrip(">")
        with open(msg, "rb") as fh:
            proc = subprocess.run(
                [
                    "ssh-keygen",
                    "-Y",
                    "verify",
                    "-f",
                    "workspace/allowed_signers",
                    "-I",
                    principal,
                    "-n",
                    "mle3-approval",
                ]
                + ["-s", str(msg.with_suffix(".sig"))],
                cwd=copy,
                stdin=fh,
                capture_output=True,
                text=True,
            )
        assert proc.returncode == 0 and "Good" in proc.stdout, proc.stdout + proc.stderr
        checked += 1
    assert checked == len(PEOPLE)


def rehash(bundle: Path) -> None:
    """What a careful forger does after an edit: write MANIFEST.sha256 again."""
    lines = []
    for line in (bundle / "MANIFEST.sha256").read_text().splitlines():
        _, name = line.split("  ", 1)
        if (bundle / name).is_file():
            lines.append(f"{hashlib.sha256((bundle / name).read_bytes()).hexdigest()}  {name}")
    (bundle / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")


def approval_entry(bundle: Path, role: str) -> Path:
    for path in (bundle / "workspace/artifacts/audit").rglob("*.json"):
        entry = json.loads(path.read_text())
        if entry.get("action") == "approval" and entry["details"].get("role") == role:
            return path
    raise AssertionError(role)


def flip_weight(b: Path) -> str:
    weights = next((b / "model").rglob("*.pt"))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    rehash(b)
    return weights.relative_to(b).as_posix()


def edit_pdf(b: Path) -> str:
    pdf = next((b / "documents").glob("13-65_*.pdf"))
    pdf.write_bytes(pdf.read_bytes() + b"%% an edit\n")
    rehash(b)
    return pdf.relative_to(b).as_posix()


def edit_manifest_line(b: Path) -> str:
    lines = (b / "MANIFEST.sha256").read_text().splitlines()
    digest, name = lines[0].split("  ", 1)
    lines[0] = f"{'0' * 64}  {name}"
    (b / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")
    return name


def edit_audit_entry(b: Path) -> str:
    path = approval_entry(b, "data_owner")
    entry = json.loads(path.read_text())
    entry["details"]["comment"] = "changed afterwards"
    path.write_text(json.dumps(entry))
    rehash(b)
    return path.relative_to(b).as_posix()


def remove_approval(b: Path) -> str:
    path = approval_entry(b, "safety_assessor")
    path.unlink()
    rehash(b)
    return "safety_assessor"


def swap_model_signature(b: Path) -> str:
    import model_signing

    other = ec_key(b.parent / "other.pem")
    (b / "signatures/model.sig").unlink()
    model_signing.signing.Config().use_elliptic_key_signer(private_key=str(other)).sign(
        str(b / "model"), str(b / "signatures/model.sig")
    )
    rehash(b)
    return "signatures/model.sig"


def edit_attestation(b: Path) -> str:
    path = b / "attestations/evaluation.dsse.json"
    envelope = json.loads(path.read_text())
    stmt = json.loads(base64.b64decode(envelope["payload"]))
    for row in stmt["predicate"]["criteria"]:
        row["verdict"], row["actual"] = "PASSED", 0.99
    envelope["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    path.write_text(json.dumps(envelope))
    rehash(b)
    return "attestations/evaluation.dsse.json"


@pytest.mark.parametrize(
    "tamper,area",
    [
        (flip_weight, "model signature"),
        (edit_pdf, "contents"),
        (edit_manifest_line, "files"),
        (edit_audit_entry, "audit"),
        (remove_approval, "documents"),
        (swap_model_signature, "model signature"),
        (edit_attestation, "attestation"),
    ],
    ids=["weight-byte", "pdf", "manifest-line", "audit-entry", "removed-approval", "swapped-signature", "attestation"],
)
def test_each_tampering_is_named(released, tmp_path, cli, tamper, area):
    _, bundle, key, _ = released
    copy = fresh_copy(bundle, tmp_path)
    subject = tamper(copy)
    code, out, err = cli("verify", copy, "--key", key.with_suffix(".pub"), "--format", "json", expect=1)
    result = json.loads(out)
    failed = [c for c in result["checks"] if not c["ok"]]
    assert not result["ok"] and any(c["area"] == area for c in failed), failed
    assert any(subject in c["subject"] or subject in c["detail"] for c in failed), (subject, failed)
    assert "Traceback" not in err


def test_a_bundle_resigned_with_another_key_fails_against_the_published_key(released, tmp_path, cli, monkeypatch):
    root, _, key, nas = released
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    forged_key = ec_key(tmp_path / "forger.pem")
    forged = tmp_path / "forged"
    cli("report", "release", MODEL, "-o", forged, "--key", forged_key, "-w", root)
    assert cli("verify", forged, expect=0)[0] == 0  # it verifies against its own key...
    code, out, _ = cli("verify", forged, "--key", key.with_suffix(".pub"), expect=1)
    assert "not the key given with --key" in out  # ...not against the one the supplier published


def strip_signatures(b: Path) -> None:
    """Every signature removed, the index still saying "signed": no longer proven."""
    for f in [b / "release-key.pub", b / "signatures/model.sig", *(b / "attestations").iterdir()]:
        f.unlink()
    rehash(b)


def index_field(b: Path, name: str, value: object) -> None:
    index = json.loads((b / "release.json").read_text())
    index[name] = value
    (b / "release.json").write_text(json.dumps(index))


def pad_manifest(b: Path) -> None:
    """8 MB of NUL padding after the gzip members (linear to skip, never quadratic)."""
    manifest = next((b / "data").glob("*.gz"))
    manifest.write_bytes(manifest.read_bytes() + b"\0" * 8_000_000 + b"junk")


def gzip_bomb(b: Path) -> None:
    import gzip

    manifest = next((b / "data").glob("*.gz"))
    with gzip.open(manifest, "wb", compresslevel=1) as fh:
        block = b"\0" * (1 << 20)
        for _ in range(1100):  # 1.1 GiB of zeros in about 1 MB
            fh.write(block)


@pytest.mark.parametrize(
    "damage,code,words",
    [
        (lambda b: (b / "release.json").unlink(), 2, "not a release bundle"),
        (lambda b: (b / "release.json").write_text("{" * 100_000), 2, "not a release bundle"),
        (lambda b: (b / "extra.txt").write_text("x"), 1, "not listed in MANIFEST.sha256"),
        (lambda b: (b / "documents" / "link.pdf").symlink_to("/etc/passwd"), 1, "a symbolic link"),
        (lambda b: (b / "workspace" / "requirements" / "etc").symlink_to("/etc"), 1, "nothing is read through them"),
        (lambda b: os.mkfifo(b / "workspace" / "requirements" / "pipe.yaml"), 1, "not a regular file"),
        (lambda b: (b / "signatures/model.sig").write_bytes(os.urandom(300)), 1, "model signature"),
        (lambda b: (b / "release-key.pub").write_text("garbage"), 1, "not a PEM public key"),
        (
            lambda b: (b / "MANIFEST.sha256").write_text(f"{'a' * 64}  ../../etc/passwd\n"),
            1,
            "not a relative path inside the folder",
        ),
        (lambda b: [p.unlink() for p in (b / "workspace").rglob("*.yaml")], 1, "workspace/mle3.yaml: missing"),
        (strip_signatures, 1, "not signed"),
        (lambda b: index_field(b, "trace", 5), 1, "release.json: trace: is a int"),
        (lambda b: index_field(b, "audit", {"boundary": 5}), 1, "FAIL"),
        (pad_manifest, 1, "not a gzip manifest"),
        (gzip_bomb, 1, "decompresses to more than"),
        (lambda b: (b / "workspace" / "mle3.yaml").write_text("rules: [\n"), 1, "the trace does not load"),
    ],
    ids=[
        "truncated",
        "deep-json",
        "extra-file",
        "symlink",
        "linked-folder",
        "fifo",
        "garbage-signature",
        "garbage-key",
        "escape",
        "no-items",
        "no-signatures",
        "wrong-type",
        "wrong-boundary",
        "nul-padding",
        "gzip-bomb",
        "broken-config",
    ],
)
def test_bad_bundles_are_one_line_never_a_traceback(released, tmp_path, cli, damage, code, words):
    _, bundle, _, _ = released
    copy = fresh_copy(bundle, tmp_path)
    damage(copy)
    got, out, err = cli("verify", copy, expect=code)
    assert words in out + err and "Traceback" not in err, out[-3000:] + err


def test_a_public_key_of_the_wrong_type_is_exit_2(released, tmp_path, cli):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    _, bundle, _, _ = released
    rsa_pub = tmp_path / "rsa.pub"
    rsa_pub.write_bytes(
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _, _, err = cli("verify", bundle, "--key", rsa_pub, expect=2)
    assert "elliptic-curve" in err and "Traceback" not in err


def test_without_weights_the_digests_are_signed_and_a_delivered_copy_checks(released, tmp_path, cli, monkeypatch):
    root, bundle, key, nas = released
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    light = tmp_path / "light"
    cli("report", "release", MODEL, "-o", light, "--no-weights", "--key", key, "-w", root)
    assert not (light / "model").exists()
    pub = key.with_suffix(".pub")
    assert cli("verify", light, "--key", pub)[0] == 0
    delivered = tmp_path / "weights"
    shutil.copytree(bundle / "model", delivered)
    assert cli("verify", light, "--key", pub, "--weights", delivered)[0] == 0
    weights = next(delivered.rglob("*.pt"))
    weights.write_bytes(weights.read_bytes()[:-1])
    _, out, _ = cli("verify", light, "--key", pub, "--weights", delivered, expect=1)
    assert "differs from the signed digest" in out


def test_a_release_key_in_mle3_yaml_is_refused(released, tmp_path, cli):
    root, _, _, _ = released
    ws = tmp_path / "ws"
    shutil.copytree(root, ws, symlinks=True, ignore=shutil.ignore_patterns(".mle3", ".git"))
    cfg = ws / "mle3.yaml"
    cfg.write_text(cfg.read_text() + "release:\n  key: '-----BEGIN EC PRIVATE KEY-----'\n")
    _, _, err = cli("check", "-w", ws, expect=2)
    assert "mle3.yaml" in err and "never written in mle3.yaml" in err and "Traceback" not in err


def test_an_unsigned_bundle_is_written_and_reported_unsigned(released, tmp_path, cli, monkeypatch):
    root, _, _, nas = released
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    monkeypatch.delenv("MLE3_RELEASE_KEY", raising=False)
    plain = tmp_path / "plain"
    _, out, _ = cli("report", "release", MODEL, "-o", plain, "-w", root)
    assert "unsigned" in out
    _, out, _ = cli("verify", plain, expect=1)
    assert "not signed" in out


def test_where_the_release_key_may_come_from(released, tmp_path, cli, monkeypatch):
    root, _, key, nas = released
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    monkeypatch.delenv("MLE3_RELEASE_KEY", raising=False)
    ws = tmp_path / "ws"
    shutil.copytree(root, ws, symlinks=True, ignore=shutil.ignore_patterns(".mle3"))
    cfg = ws / "mle3.yaml"
    text = cfg.read_text()
    inside = ws / "requirements" / "release.pem"
    shutil.copy(key, inside)
    out = tmp_path / "b"
    cases = [
        (f"release:\n  key_file: {inside}\n", "lies inside the workspace"),
        ("release:\n  key_file: ../keys/release.pem\n", "is a relative path"),
        ("release:\n  key_env: MLE3_TEST_UNSET_KEY\n", "names MLE3_TEST_UNSET_KEY, which is not set"),
    ]
    for setting, words in cases:
        cfg.write_text(text + setting)
        _, _, err = cli("report", "release", MODEL, "-o", out, "-w", ws, expect=2)
        assert words in err and "Value error" not in err and "Traceback" not in err, err
    cfg.write_text(text + f"release:\n  key_file: {key}\n")
    assert cli("report", "release", MODEL, "-o", out, "-w", ws, "--format", "json")[0] == 0
    cfg.write_text(text)
    _, _, err = cli("report", "release", MODEL, "-o", tmp_path / "r", "--release", "-w", ws, expect=1)
    assert "--release" in err and "signed" in err and not (tmp_path / "r").exists()
    _, _, err = cli("report", "release", MODEL, "-o", out, "--key", key.with_suffix(".pub"), "-w", ws, expect=2)
    assert "is a public key" in err


def test_a_changed_delivered_copy_is_named_once_not_as_stale_approvals(released, tmp_path, cli, monkeypatch):
    root, bundle, key, nas = released
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    light = tmp_path / "light"
    cli("report", "release", MODEL, "-o", light, "--no-weights", "--key", key, "-w", root)
    delivered = tmp_path / "weights"
    shutil.copytree(bundle / "model", delivered)
    weights = next(delivered.rglob("*.pt"))
    weights.write_bytes(weights.read_bytes() + b"x")
    _, out, _ = cli("verify", light, "--key", key.with_suffix(".pub"), "--format", "json")
    assert json.loads(out)["weights"] == "digests only"  # the bundle alone verifies: its digests are signed
    _, out, _ = cli(
        "verify", light, "--key", key.with_suffix(".pub"), "--weights", delivered, "--format", "json", expect=1
    )
    failed = [c for c in json.loads(out)["checks"] if not c["ok"]]
    assert [c["area"] for c in failed] == ["model signature"] and str(delivered) in failed[0]["subject"], failed
    _, _, err = cli("verify", light, "--weights", tmp_path / "nope", expect=2)
    assert "not a folder" in err

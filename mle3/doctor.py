"""``mle3 doctor``: what this machine has for mle3, each line with its fix.

Every check is a small function returning :class:`Check`; none of them changes anything.
Parts the README's set-up installs (the core, the ``train`` extra, PDF output, git) are
*needed*: a missing one makes ``doctor`` exit 1. The rest (MLflow, ReqIF, signing,
browser tests, git LFS, a GPU) are reported with how to add them.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from collections.abc import Callable

from .optional import PDF_LIBRARIES, weasyprint_problem

SCHEMA = "mle3.doctor/1"


@dataclass
class Check:
    name: str
    status: str  # ok | missing | warning | info
    detail: str
    fix: str | None = None
    needed: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _run(*cmd: str) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return (proc.stdout or proc.stderr).strip() if proc.returncode == 0 else None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _package(name: str, dist: str, extra: str, needed: bool, what: str) -> Check:
    version = _version(dist) if _importable(name) else None
    if version:
        return Check(name, "ok", f"{dist} {version} ({what})", needed=needed)
    return Check(name, "missing", f"{dist} is not installed ({what})", f"pip install 'mle3[{extra}]'", needed)


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check(
        "python",
        "ok" if ok else "missing",
        f"Python {sys.version.split()[0]} at {sys.executable}",
        None if ok else "install Python 3.10 or newer",
        True,
    )


def check_core() -> Check:
    missing = [
        d
        for d in ("typer", "pydantic", "networkx", "jinja2", "PyYAML", "GitPython", "filelock", "rich")
        if _version(d) is None
    ]
    if missing:
        return Check("core packages", "missing", f"not installed: {', '.join(missing)}", "pip install -e .", True)
    return Check(
        "core packages",
        "ok",
        f"mle3 {_version('mle3') or '(source tree)'}, pydantic {_version('pydantic')}, typer {_version('typer')}",
        needed=True,
    )


def check_torch() -> list[Check]:
    if not _importable("torch"):
        return [
            Check(
                "torch",
                "missing",
                "PyTorch is not installed (training, export, quantization)",
                "pip install 'mle3[train]'",
                True,
            )
        ]
    import torch

    checks = [
        Check("torch", "ok", f"torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}", needed=True)
    ]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        driver = _run("nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader")
        checks.append(
            Check(
                "gpu",
                "ok",
                f"{len(names)} GPU(s): {', '.join(names)}; driver {driver.splitlines()[0] if driver else 'unknown'}",
            )
        )
        from .runner.qat import extension_cache

        root, built = extension_cache()
        checks.append(
            Check(
                "modelopt cuda extension",
                "ok" if built else "info",
                f"{'built' if built else 'not built yet'} in {root}",
                None if built else "the first QAT builds it (about a minute), once per machine",
            )
        )
    else:
        checks.append(
            Check(
                "gpu",
                "info",
                "no CUDA GPU visible: training runs on the CPU",
                "on a GPU machine: a CUDA build of torch and the NVIDIA driver (nvidia-smi)",
            )
        )
    return checks


def check_pdf() -> list[Check]:
    problem = weasyprint_problem()
    if problem:
        return [
            Check(
                "weasyprint", "missing", f"PDF output unavailable: {problem}", f"apt-get install {PDF_LIBRARIES}", True
            )
        ]
    import weasyprint

    checks = [Check("weasyprint", "ok", f"weasyprint {weasyprint.__version__} with pango and harfbuzz", needed=True)]
    fonts = _run("fc-list", ":", "family")
    families = sorted({f.split(",")[0] for f in (fonts or "").splitlines() if f})
    if not families:
        checks.append(
            Check(
                "fonts",
                "warning",
                "fontconfig lists no fonts: PDFs would have no readable text",
                "apt-get install fonts-dejavu-core",
                True,
            )
        )
    else:
        dejavu = any("DejaVu" in f for f in families)
        checks.append(
            Check(
                "fonts",
                "ok" if dejavu else "warning",
                f"{len(families)} font families{' including DejaVu' if dejavu else ''}",
                None if dejavu else "apt-get install fonts-dejavu-core (the reports' font)",
            )
        )
    return checks


def check_git(root: Path | None) -> list[Check]:
    version = _run("git", "--version")
    if version is None:
        return [
            Check(
                "git",
                "missing",
                "git is not installed (workspaces are git repositories; runs record the commit)",
                "apt-get install git",
                True,
            )
        ]
    checks = [Check("git", "ok", version, needed=True)]
    name = _run("git", "-C", str(root or Path.cwd()), "config", "user.name")
    email = _run("git", "-C", str(root or Path.cwd()), "config", "user.email")
    if name and email:
        checks.append(Check("git identity", "ok", f"{name} <{email}> (recorded as actor and approver)"))
    else:
        checks.append(
            Check(
                "git identity",
                "warning",
                "no git user.name/user.email: approvals and runs record the login name",
                'git config --global user.name "Your Name" && git config --global user.email you@example.com',
            )
        )
    lfs = _run("git", "lfs", "version")
    checks.append(
        Check(
            "git lfs",
            "ok" if lfs else "info",
            lfs or "git LFS is not installed (weights stay plain files in git)",
            None if lfs else "apt-get install git-lfs",
        )
    )
    return checks


def check_signing() -> Check:
    if shutil.which("ssh-keygen"):
        return Check("ssh-keygen", "ok", "present (mle3 approve --sign)")
    return Check("ssh-keygen", "info", "not installed: signed approvals unavailable", "apt-get install openssh-client")


def check_browser() -> Check:
    present = [p for p in ("/usr/bin/chromium", "/usr/bin/chromedriver") if Path(p).exists()]
    if len(present) == 2:
        return Check("chromium", "ok", "chromium and chromedriver present (browser tests of mle3 site)")
    return Check(
        "chromium",
        "info",
        "no chromium/chromedriver: the site's browser tests skip",
        "apt-get install chromium chromium-driver",
    )


def check_workspace(root: Path | None) -> list[Check]:
    if root is None:
        return [Check("workspace", "info", "not inside a workspace (no mle3.yaml here or above)", "mle3 init DIR")]
    checks = [Check("workspace", "ok", str(root))]
    free = shutil.disk_usage(root).free
    checks.append(
        Check(
            "free disk",
            "ok" if free > 2 << 30 else "warning",
            f"{free / (1 << 30):.1f} GiB free in the workspace",
            None if free > 2 << 30 else "training and data need several GiB: free some space",
        )
    )
    try:
        from .workspace import load_workspace

        ws = load_workspace(root)
        checks.extend(_data_checks(root, ws))
    except Exception as exc:  # a broken workspace is for `mle3 check` to explain
        checks.append(Check("workspace files", "warning", f"not loadable: {exc}", "mle3 check"))
    return checks


def _data_checks(root: Path, ws: Any) -> list[Check]:
    """Each data set's files on this machine: in the workspace, or below its mapped root."""
    from .datasets.roots import RootUnavailable, env_name
    from .datasets.storage import store_for
    from .errors import Mle3Error

    checks = []
    for ds in ws.of_kind("dataset"):
        if not ds.data_yaml:
            continue
        if ds.data_root:
            try:
                store = store_for(root, ws.config, ds.data_root)
            except Mle3Error as exc:
                hint = (
                    f"{env_name(ds.data_root)}=/path or data_roots in .mle3/local.yaml"
                    if isinstance(exc, RootUnavailable)
                    else None
                )
                checks.append(Check(f"data {ds.key}", "warning", exc.message, hint))
                continue
            # an object store is asked nothing here: a request per data set could hang on a network
            if store.stats_are_cheap and not store.exists(ds.data_yaml):
                checks.append(
                    Check(
                        f"data {ds.key}",
                        "warning",
                        f"{ds.data_yaml} is not in data root {ds.data_root!r} ({store.url()})",
                        "check the mount or the mapping",
                    )
                )
        elif not (root / ds.data_yaml).exists():
            checks.append(
                Check(
                    f"data {ds.key}",
                    "warning",
                    f"{ds.data_yaml} is not on this machine",
                    "fetch or mount the data set (see its source)",
                )
            )
    return checks


def run_all(root: Path | None) -> list[Check]:
    groups: list[Callable[[], Check | list[Check]]] = [
        check_python,
        check_core,
        check_torch,
        lambda: _package("ultralytics", "ultralytics", "train", True, "training"),
        lambda: _package("onnxruntime", "onnxruntime", "train", True, "export, PTQ"),
        lambda: _package("modelopt", "nvidia-modelopt", "train", True, "QAT"),
        check_pdf,
        lambda: check_git(root),
        check_signing,
        lambda: _package("mlflow", "mlflow-skinny", "mlflow", False, "MLflow mirror"),
        lambda: _package("reqif", "reqif", "reqif", False, "ReqIF exchange"),
        lambda: _package("optuna", "optuna", "train", False, "mle3 tune"),
        lambda: _package("s3fs", "s3fs", "s3", False, "data roots in S3-compatible object stores"),
        lambda: _package("uvicorn", "uvicorn", "serve", False, "mle3 serve"),
        check_browser,
        lambda: check_workspace(root),
    ]
    out: list[Check] = []
    for group in groups:
        result = group()
        out.extend(result if isinstance(result, list) else [result])
    return out


def healthy(checks: list[Check]) -> bool:
    return not any(c.needed and c.status == "missing" for c in checks)

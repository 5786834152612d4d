"""What an auditor asks about a run: which code (git), which machine, which libraries.

Also the one place that imports ultralytics, after switching it to offline mode: no hub,
no update checks, no telemetry, no font or weight downloads, no auto-install.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any


def git_state(root: Path) -> dict[str, Any]:
    """Commit, branch and dirty state of the workspace's git repository (gitpython)."""
    try:
        import git

        repo = git.Repo(root, search_parent_directories=True)
        try:
            commit = repo.head.commit.hexsha
        except ValueError:
            commit = None  # no commits yet
        try:
            branch = repo.active_branch.name
        except TypeError:
            branch = None  # detached head
        dirty_files = [d.a_path for d in repo.index.diff(None)] + (
            [d.a_path for d in repo.index.diff("HEAD")] if commit else []
        )
        return {
            "commit": commit,
            "branch": branch,
            "dirty": repo.is_dirty(untracked_files=False),
            "dirty_files": sorted({f for f in dirty_files if f is not None})[:50],
            "untracked_files": len(repo.untracked_files),
        }
    except Exception as exc:  # not a repository, or git missing: recorded, not fatal
        return {"commit": None, "dirty": None, "error": f"no git repository: {type(exc).__name__}"}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    import torch
    import ultralytics

    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "albumentations": _version("albumentations"),
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "user": _user(),
        "argv": sys.argv,
    }


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _bars_only_on_terminals() -> None:
    """ultralytics' progress bars redraw many times a second; in a log file or a CI job
    they bury everything else. Off unless the stream they write to is a terminal: mle3's
    own one line per epoch reports the progress then."""
    from ultralytics.utils import tqdm as bars

    cls = bars.TQDM
    if getattr(cls, "_mle3_terminal_only", False):
        return
    original = cls.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        stream = kwargs.get("file") or sys.stdout
        if kwargs.get("disable") is None and not (hasattr(stream, "isatty") and stream.isatty()):
            kwargs["disable"] = True
        original(self, *args, **kwargs)

    # patching a third-party class on purpose
    cls.__init__ = __init__
    cls._mle3_terminal_only = True


def offline_ultralytics(root: Path, pin_memory: bool | None = None):
    """Import ultralytics configured for offline, recorded use; returns the module.

    Settings go to the workspace's ``.mle3/ultralytics`` (not the user's home) with
    sync (telemetry) off; auto-install, hub and online checks are switched off by
    environment before the import. Every package ultralytics might want is in the
    ``train`` extra instead.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_VERBOSE", "true")
    from ..workspace.layout import layout_at

    layout = layout_at(root)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(root / layout.ultralytics_dir))
    if pin_memory is not None:
        os.environ["PIN_MEMORY"] = "true" if pin_memory else "false"
    Path(os.environ["YOLO_CONFIG_DIR"]).mkdir(parents=True, exist_ok=True)
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):  # its first-run settings notice is not output
        import ultralytics
        from ultralytics.utils import SETTINGS

    _bars_only_on_terminals()
    wanted = {
        "sync": False,
        "hub": False,
        "mlflow": False,
        "wandb": False,
        "tensorboard": False,
        "comet": False,
        "clearml": False,
        "neptune": False,
        "dvc": False,
        "raytune": False,
    }
    wanted = {k: v for k, v in wanted.items() if k in SETTINGS and SETTINGS.get(k) != v}
    if wanted:
        SETTINGS.update(wanted)
    _no_amp_download()
    label_caches_under(root / layout.label_cache_dir, root)
    image_file_for_transforms()
    return ultralytics


def image_file_for_transforms() -> None:
    """Let mle3's transforms know which image they augment (headlight glare asks whether
    the data set lists it as a night image): ultralytics' albumentations step is wrapped
    to set :data:`mle3.recipe.transforms.CURRENT_FILE` from the sample's ``im_file``."""
    from ultralytics.data import augment

    call = augment.Albumentations.__call__
    if getattr(call, "__mle3__", False):
        return

    def with_file(self: Any, labels: dict[str, Any]) -> dict[str, Any]:
        try:
            from .transforms import CURRENT_FILE
        except ImportError:  # albumentations missing: ultralytics skips the step anyway
            return call(self, labels)
        token = CURRENT_FILE.set(labels.get("im_file"))
        try:
            return call(self, labels)
        finally:
            CURRENT_FILE.reset(token)

    with_file.__mle3__ = True  # type: ignore[attr-defined]
    augment.Albumentations.__call__ = with_file  # patched on purpose


def label_caches_under(cache_dir: Path, root: Path | None = None) -> None:
    """ultralytics writes ``labels/<split>.cache`` beside the labels, i.e. into the
    registered data set: it would change the data folder (and conflict in git). Its
    cache files go to ``cache_dir`` instead, one per labels folder. They hold a pickle
    (``np.load(allow_pickle=True)``), so they are sealed (:mod:`mle3.sealed`): one this
    machine did not write, edited or tracked by git is never unpickled, and ultralytics
    rebuilds it from the labels."""
    import hashlib
    import io

    from ultralytics.data import dataset

    from .. import sealed

    def moved(path: Any) -> Path:
        source = Path(path).resolve()
        return cache_dir / f"{hashlib.sha256(str(source).encode()).hexdigest()[:16]}-{source.name}"

    def load_moved(path: Any) -> Any:
        import numpy as np

        target = moved(path)
        payload = sealed.read_bytes(target, "label-cache:" + target.name, root)
        if payload is None:
            raise FileNotFoundError(target)  # what ultralytics expects of a missing cache: it scans the labels
        return np.load(io.BytesIO(payload), allow_pickle=True).item()

    def save_moved(prefix: str, path: Any, x: Any, version: str) -> None:
        import numpy as np

        x["version"] = version
        target = moved(path)
        buffer = io.BytesIO()
        np.save(buffer, x)
        cache_dir.mkdir(parents=True, exist_ok=True)
        sealed.write_bytes(target, "label-cache:" + target.name, buffer.getvalue())

    load_moved.__mle3__ = save_moved.__mle3__ = True  # type: ignore[attr-defined]
    dataset.load_dataset_cache_file = load_moved
    dataset.save_dataset_cache_file = save_moved


def _no_amp_download() -> None:
    """ultralytics' AMP self-test downloads yolo26n.pt; mle3 never downloads weights, so
    on GPU the configured ``amp`` is used as is (recorded in the run)."""
    from ultralytics.engine import trainer

    def trust_configured_amp(model) -> bool:
        device = next(model.parameters()).device
        return device.type not in ("cpu", "mps")  # as ultralytics: AMP only on CUDA

    trainer.check_amp = trust_configured_amp

"""Optional parts of mle3 and the one line that installs each.

Training, export and quantization need the ``train`` extra, ReqIF the ``reqif`` extra,
MLflow the ``mlflow`` extra; PDF output needs weasyprint's system libraries (pango,
harfbuzz). A missing part is a user error with its fix, never a traceback: the CLI maps
any missing module to its extra here (:func:`missing_module_message`), and PDF rendering
loads weasyprint through :func:`load_weasyprint`.
"""

from __future__ import annotations

from .errors import Mle3Error

#: top-level module -> (extra, pip package name)
MODULE_EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("train", "torch"),
    "torchvision": ("train", "torchvision"),
    "ultralytics": ("train", "ultralytics"),
    "numpy": ("train", "numpy"),
    "PIL": ("train", "pillow"),
    "onnx": ("train", "onnx"),
    "onnxruntime": ("train", "onnxruntime"),
    "onnxslim": ("train", "onnxslim"),
    "modelopt": ("train", "nvidia-modelopt"),
    "albumentations": ("train", "albumentations"),
    "huggingface_hub": ("train", "huggingface_hub"),
    "optuna": ("train", "optuna"),
    "cmaes": ("train", "cmaes"),
    "fsspec": ("s3", "fsspec"),
    "s3fs": ("s3", "s3fs"),
    "pyarrow": ("metadata", "pyarrow"),
    "starlette": ("serve", "starlette"),
    "uvicorn": ("serve", "uvicorn"),
    "mlflow": ("mlflow", "mlflow-skinny"),
    "reqif": ("reqif", "reqif"),
    "lxml": ("reqif", "lxml"),
    "cryptography": ("release", "cryptography"),
    "in_toto_attestation": ("release", "in-toto-attestation"),
    "model_signing": ("release", "model-signing"),
}

PDF_LIBRARIES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core"


def missing_module_message(name: str | None) -> str:
    """One line for a module that is not installed, with the command that installs it."""
    top = (name or "").split(".")[0]
    extra, package = MODULE_EXTRAS.get(top, (None, top))
    if extra:
        return (
            f"the Python package {package!r} is not installed; it comes with the {extra} extra: pip install "
            f"'mle3[{extra}]'"
        )
    return f"the Python package {top!r} is not installed: pip install {top}"


def require(*modules: str) -> None:
    """Fail early, before anything is recorded, when a module a command needs is missing."""
    import importlib.util

    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise Mle3Error(missing_module_message(name))


def weasyprint_problem() -> str | None:
    """Why weasyprint cannot render here (missing system libraries), or None."""
    try:
        import weasyprint  # noqa: F401
    except ImportError as exc:
        return f"weasyprint is not installed ({exc})"
    except OSError as exc:  # cffi could not load pango/harfbuzz/fontconfig
        return str(exc).splitlines()[0]
    return None


def load_weasyprint():
    """The weasyprint module, or a one-line error naming the system packages to install."""
    problem = weasyprint_problem()
    if problem:
        raise Mle3Error(
            f"PDF output needs weasyprint's system libraries ({problem}): apt-get install {PDF_LIBRARIES} "
            "(or --to html)"
        )
    import weasyprint

    return weasyprint

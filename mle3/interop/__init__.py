"""Formats other tools read and write: SARIF and JUnit for CI (``ci``), ReqIF for ALM
tools (``reqif``, extra ``reqif``) and MLflow tracking (``mlflow``, extra ``mlflow``).
Only the CI formats are imported here; the others load their optional packages on use."""

from .ci import junit, render, sarif

__all__ = ["junit", "render", "sarif"]

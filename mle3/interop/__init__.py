"""Formats other tools read: SARIF and JUnit for CI (ReqIF and MLflow are planned)."""

from .ci import junit, render, sarif

__all__ = ["junit", "render", "sarif"]

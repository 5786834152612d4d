"""``mle3 serve``: watch training live in a browser."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import WorkspaceOpt, _workspace_root, app


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a --host other machines can reach (actions still need the token).")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Serve the training list and live run pages; abort and rerun need the token it prints."""
    from ..serve.app import serve as run_server

    run_server(_workspace_root(workspace), host, port, allow_remote=allow_remote, echo=typer.echo)
    return 0

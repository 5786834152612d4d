"""``mle3 serve``: watch training live in a browser."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import WorkspaceOpt, _workspace_root, app
from .options import ExitCode


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a --host other machines can reach (actions still need the token)."),
    ] = False,
    allow_host: Annotated[
        Optional[list[str]],
        typer.Option(
            "--allow-host",
            help="Also answer requests whose Host header is NAME (a name or NAME:PORT, e.g. behind a proxy); repeatable. Other Hosts get 421.",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> int:
    """Serve the training list and live run pages; abort and rerun need the token it prints."""
    from ..serve.app import serve as run_server

    run_server(
        _workspace_root(workspace),
        host,
        port,
        allow_remote=allow_remote,
        allow_hosts=tuple(allow_host or ()),
        echo=typer.echo,
    )
    return ExitCode.OK

"""``diarflow serve``: the HTTP service (Inngest functions, health, pyannoteAI webhook) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from diarflow.cli._common import StoreOption, as_text, configure_logging, reported_errors, stderr_console


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (0.0.0.0 for every interface).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Worker processes on this machine (each serves all steps).")
    ] = 1,
    store: StoreOption = None,
) -> None:
    """Serve the Inngest functions at /api/inngest, /healthz and /webhooks/pyannote.

    Dev server: INNGEST_DEV=1 (or its URL), then `npx inngest-cli dev -u http://127.0.0.1:8000/api/inngest`.
    Inngest Cloud or `inngest start`: INNGEST_SIGNING_KEY and INNGEST_EVENT_KEY (see README, "Running on Inngest").
    """
    import os

    with reported_errors():
        import uvicorn

        from diarflow.config import Settings
        from diarflow.service.app import create_app

        if store is not None:
            # Worker processes build their own app from the environment: hand the option down that way.
            os.environ["DIARFLOW_STORE"] = store
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        app = create_app(settings)  # fails here, with a clear message, on bad settings
        console = stderr_console()
        info = app.state.diarflow.inngest_info
        path = os.environ.get("INNGEST_SERVE_PATH") or "/api/inngest"
        console.print(
            f"[bold]diarflow serve[/]: http://{host}:{port}{path} ({info.mode} mode, "
            f"{len(info.functions)} functions, store {as_text(app.state.diarflow.store.url)})"
        )
        if settings.serve_origin is not None:
            console.print(f"registers {as_text(settings.serve_origin + path)} with Inngest on sync")
        elif info.mode == "cloud":
            console.print(
                "INNGEST_SERVE_ORIGIN is not set: sync from Inngest (in-band); a PUT /api/inngest of your own "
                "needs it (the URL registered never comes from request headers)"
            )
    log_level = settings.log_level.lower()
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    else:
        uvicorn.run(
            "diarflow.service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )

"""``diarflow transcribe``: Deepgram transcription of one episode into the store."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diarflow.cli._common import EXIT_OK, StoreOption, configure_logging, reported_errors, stderr_console

if TYPE_CHECKING:
    from diarflow.orchestration import StepObserver


def register(app: typer.Typer) -> None:
    app.command("transcribe")(transcribe)


def transcribe(
    episode_id: Annotated[str, typer.Option("--episode-id", help="Episode id: 1-128 of A-Z a-z 0-9 _ -.")],
    audio: Annotated[str, typer.Option("--audio", help="Episode audio: a local path or an http(s) URL.")],
    podcast_id: Annotated[str | None, typer.Option("--podcast-id", help="Podcast id, carried in the event.")] = None,
    store: StoreOption = None,
    force: Annotated[bool, typer.Option("--force", help="Transcribe again even if this audio was done.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Transcribe with Deepgram (nova-3, diarize, utterances) to transcripts/<id>/deepgram.json.

    Prints {episode_id, transcript_key, stats: {words, duration}} on stdout.
    Needs DEEPGRAM_API_KEY. Exit codes: 0 done, 1 failed, 2 bad usage or invalid input.
    """
    with reported_errors():
        from diarflow.adapters.stores import open_store
        from diarflow.config import Settings
        from diarflow.contracts import validate_id
        from diarflow.errors import InvalidConfig
        from diarflow.orchestration import Workspace
        from diarflow.orchestration.local import episode_lease, transcribe_locally

        validate_id(episode_id, "--episode-id")
        if podcast_id is not None:
            validate_id(podcast_id, "--podcast-id")
        settings = Settings.from_env(store=store)
        configure_logging(settings.log_level)
        if settings.deepgram_api_key is None:  # before the lease: a usage error touches no store
            raise InvalidConfig("DEEPGRAM_API_KEY", "is not set: export your Deepgram key to transcribe")
        ws = Workspace(store=open_store(settings.store), settings=settings)
        observer = None if quiet else _observer()
        # Like ``run``: a second transcription of the episode must not overwrite the transcript under a run.
        with episode_lease(ws.store, episode_id, settings) as lease:
            result = transcribe_locally(ws, episode_id, audio, podcast_id, lease=lease, force=force, observer=observer)
    sys.stdout.write(_json(result) + "\n")
    raise typer.Exit(EXIT_OK)


def _observer() -> StepObserver:
    from diarflow.cli.run import ConsoleObserver

    return ConsoleObserver(stderr_console())


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()

"""``diarflow trigger`` and ``diarflow backfill``: start Inngest runs by sending their trigger events.

Without ``--transcribe`` the event is ``episode.transcribed.deepgram.completed``
(diarize a stored transcript); with it, ``episode.transcribe.requested``
(Deepgram first). Each function's idempotency key is the episode id plus an
optional rerun token, so sending the same event twice starts one run, and
``--rerun`` starts a new one on purpose (e.g. once the voiceprint registry is
back).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from diarflow.cli._common import (
    EXIT_USAGE,
    StoreOption,
    as_text,
    configure_logging,
    fail,
    read_input_file,
    reported_errors,
    stderr_console,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from diarflow.adapters.stores import ObjectStore
    from diarflow.service.events import EpisodeTrigger

AudioUrlOption = Annotated[
    str | None, typer.Option("--audio-url", help="Episode audio URL (required with --transcribe; pyannoteAI uses it).")
]
PodcastOption = Annotated[str | None, typer.Option("--podcast-id", help="Podcast id (concurrency key, voiceprints).")]
RerunOption = Annotated[
    bool, typer.Option("--rerun", help="Start a new run even if this episode ran in the last 24 h.")
]
RerunTokenOption = Annotated[
    str | None,
    typer.Option("--rerun-token", help="Rerun with this token (reuse one to resume an interrupted --rerun backfill)."),
]
TranscribeOption = Annotated[
    bool, typer.Option("--transcribe", help="Transcribe with Deepgram first (episode.transcribe.requested).")
]


def register(app: typer.Typer) -> None:
    app.command("trigger")(trigger)
    app.command("backfill")(backfill)


def trigger(
    episode_id: Annotated[str, typer.Argument(help="Episode id: 1-128 of A-Z a-z 0-9 _ -.")],
    audio_url: AudioUrlOption = None,
    transcript_key: Annotated[
        str | None,
        typer.Option("--transcript-key", help="Stored transcript key (default transcripts/<id>/deepgram.json)."),
    ] = None,
    podcast_id: PodcastOption = None,
    rerun: RerunOption = False,
    rerun_token: RerunTokenOption = None,
    transcribe: TranscribeOption = False,
) -> None:
    """Send the event that starts one episode's run on Inngest; prints the event ids as JSON.

    Needs INNGEST_EVENT_KEY (or INNGEST_DEV for a dev server). Exit codes: 0 sent, 1 not sent, 2 bad usage.
    """
    with reported_errors():
        from diarflow.config import Settings
        from diarflow.service.events import EpisodeTrigger, event_client, new_rerun_token, send

        settings = Settings.from_env()
        configure_logging(settings.log_level)
        token = rerun_token or (new_rerun_token() if rerun else None)
        episode = EpisodeTrigger(episode_id, audio_url, transcript_key, podcast_id, transcribe=transcribe)
        event = episode.event(token)
        ids = send(event_client(settings), [event])
    summary = {"event": event["name"], "episode_id": episode_id, "rerun": token, "ids": ids}
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")


def backfill(
    podcast_id: Annotated[
        str | None,
        typer.Option(
            "--podcast-id",
            help="Every episode with a transcript in the store, tagged with this podcast "
            "(with --from-file: the podcast of rows that name none).",
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            dir_okay=False,
            help="CSV with a header: episode_id, and optionally audio_url, transcript_key, podcast_id.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the events (JSON lines); send nothing.")] = False,
    rerun: RerunOption = False,
    rerun_token: RerunTokenOption = None,
    transcribe: TranscribeOption = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=5000, help="Events per request (Inngest accepts 5,000).")
    ] = 5000,
    store: StoreOption = None,
) -> None:
    """Start runs for many episodes, sending events in batches with progress on stderr.

    Safe to repeat: episodes already started in the last 24 h are skipped by
    the idempotency key (unless --rerun). Exit codes: 0 sent, 1 failed part way, 2 bad usage.
    """
    if podcast_id is None and from_file is None:
        fail("give --podcast-id ID (episodes in the store) or --from-file episodes.csv", EXIT_USAGE)
    with reported_errors():
        from diarflow.config import Settings
        from diarflow.service.events import batches, event_client, new_rerun_token, send

        settings = Settings.from_env(store=store)
        configure_logging(settings.log_level)
        if from_file is not None:
            episodes = read_episodes_csv(
                from_file, limit=settings.max_transcript_bytes, default_podcast=podcast_id, transcribe=transcribe
            )
        else:
            assert podcast_id is not None  # checked above
            from diarflow.adapters.stores import open_store

            episodes = stored_episodes(open_store(settings.store), podcast_id, transcribe=transcribe)
        token = rerun_token or (new_rerun_token() if rerun else None)
        events = [episode.event(token) for episode in episodes]
        groups = list(batches(events, size=batch_size))
        console = stderr_console()
        if dry_run:
            for event in events:
                sys.stdout.write(orjson.dumps(event).decode() + "\n")
            console.print(f"dry run: {len(events):,} events in {len(groups)} requests; nothing sent")
            return
        client = event_client(settings)
        sent = 0
        for number, group in enumerate(groups, start=1):
            try:
                send(client, group)
            except Exception:
                console.print(
                    f"[red]stopped after {sent:,} of {len(events):,} events[/]; running the same command again "
                    "is safe" + (f" with --rerun-token {as_text(token)}" if token else "")
                )
                raise
            sent += len(group)
            console.print(f"sent {sent:,}/{len(events):,} events (request {number}/{len(groups)})")
    summary = {"sent": sent, "requests": len(groups), "event": events[0]["name"] if events else None, "rerun": token}
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")


def read_episodes_csv(path: Path, *, limit: int, default_podcast: str | None, transcribe: bool) -> list[EpisodeTrigger]:
    """Every row of the CSV file (at most ``limit`` bytes), validated before anything is sent; errors name the line."""
    from diarflow.errors import InvalidInput

    data = read_input_file(path, "--from-file", limit)
    try:
        text = data.decode("utf-8-sig")  # utf-8-sig: spreadsheets add a BOM
    except UnicodeDecodeError as exc:
        raise InvalidInput("--from-file", f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start:,})") from None
    try:
        return _episodes_of(csv.DictReader(io.StringIO(text, newline="")), path, default_podcast, transcribe)
    except csv.Error as exc:  # a NUL byte, a field over csv's 128 KB limit…
        raise InvalidInput("--from-file", f"{path} is not a readable CSV file: {exc}") from None


def _episodes_of(
    reader: csv.DictReader[str], path: Path, default_podcast: str | None, transcribe: bool
) -> list[EpisodeTrigger]:
    from diarflow.errors import InvalidInput
    from diarflow.service.events import EpisodeTrigger

    episodes: list[EpisodeTrigger] = []
    seen: set[str] = set()
    if reader.fieldnames is None or "episode_id" not in [name.strip() for name in reader.fieldnames]:
        raise InvalidInput("--from-file", f"{path} needs a header row with an episode_id column")
    for row in reader:
        values = {(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        if not any(values.values()):
            continue  # blank line
        episode = EpisodeTrigger(
            values.get("episode_id", ""),
            values.get("audio_url") or None,
            values.get("transcript_key") or values.get("s3_transcript_key") or None,
            values.get("podcast_id") or default_podcast,
            transcribe=transcribe,
        )
        try:
            episode.event()
        except InvalidInput as exc:
            raise InvalidInput(f"{path} line {reader.line_num}", exc.message) from None
        if episode.episode_id not in seen:
            seen.add(episode.episode_id)
            episodes.append(episode)
    return episodes


def stored_episodes(store: ObjectStore, podcast_id: str, *, transcribe: bool) -> list[EpisodeTrigger]:
    """Every episode whose Deepgram transcript is in the store (``transcripts/<id>/deepgram.json``)."""
    from diarflow.contracts import keys, validate_id
    from diarflow.errors import InvalidInput
    from diarflow.service.events import EpisodeTrigger

    validate_id(podcast_id, "--podcast-id")
    if transcribe:
        raise InvalidInput("--transcribe", "needs audio URLs: use --from-file with an audio_url column")
    episodes = []
    for key in store.list("transcripts/"):
        parts = key.split("/")
        if len(parts) == 3 and parts[2] == "deepgram.json" and key == _safe_key(keys.transcript_key, parts[1]):
            episodes.append(EpisodeTrigger(parts[1], transcript_key=key, podcast_id=podcast_id))
    if not episodes:
        raise InvalidInput("--podcast-id", f"no transcripts/<episode_id>/deepgram.json in {store.url}")
    return episodes


def _safe_key(make_key: Callable[[str], str], episode_id: str) -> str | None:
    """The key for a listed id, or None when the id is not valid (a stray object under transcripts/)."""
    from diarflow.errors import InvalidId

    try:
        return make_key(episode_id)
    except InvalidId:
        return None

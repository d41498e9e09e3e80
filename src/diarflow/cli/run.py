"""``diarflow run``, ``diarflow show`` and ``diarflow demo``."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diarflow.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    StoreOption,
    as_text,
    configure_logging,
    fail,
    read_input_file,
    reported_errors,
    settle_imports,
    spelled,
    stderr_console,
    stdout_console,
)
from diarflow.config import DIARIZER_CHOICES
from diarflow.errors import classify

if TYPE_CHECKING:
    from rich.console import Console

    from diarflow.adapters.stores import ObjectStore
    from diarflow.contracts import ErrorArtifact, PipelineResult
    from diarflow.contracts._base import ContractT
    from diarflow.errors import StepFailed

RUN_OPTIONS = {
    name: "--" + name.replace("_", "-")
    for name in (
        "transcript",
        "audio",
        "episode_id",
        "podcast_id",
        "diarizer",
        "num_speakers",
        "min_speakers",
        "max_speakers",
        "store",
    )
}
"""The inputs a run's errors name, as ``diarflow run`` spells them."""


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("show")(show)
    app.command("demo")(demo)


def run(
    episode_id: Annotated[str, typer.Option("--episode-id", help="Episode id: 1-128 of A-Z a-z 0-9 _ -.")],
    transcript: Annotated[
        Path | None, typer.Option("--transcript", help="Deepgram /v1/listen JSON or {'words': [...]}.")
    ] = None,
    audio: Annotated[str | None, typer.Option("--audio", help="Episode audio: a path or an http(s)/s3 URL.")] = None,
    podcast_id: Annotated[str | None, typer.Option("--podcast-id", help="Podcast id (voiceprint registry).")] = None,
    store: StoreOption = None,
    diarizer: Annotated[
        str,
        typer.Option(
            "--diarizer",
            help=f"One of {', '.join(DIARIZER_CHOICES)} (env DIARFLOW_DIARIZER); channels: one speaker per track "
            "of a multichannel transcript, from its words and, with --audio, each track's own voice activity.",
        ),
    ] = "",
    num_speakers: Annotated[int | None, typer.Option("--num-speakers", min=1, help="Exact speaker count.")] = None,
    min_speakers: Annotated[int | None, typer.Option("--min-speakers", min=1)] = None,
    max_speakers: Annotated[int | None, typer.Option("--max-speakers", min=1)] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Recompute every step, ignoring checkpoints (speaker corrections are kept).")
    ] = False,
    drop_corrections: Annotated[
        bool,
        typer.Option("--drop-corrections", help="Forget the episode's speaker corrections first."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Diarize one episode and print the lightweight result JSON on stdout.

    Exit codes: 0 completed or partial, 1 failed, 2 bad usage or invalid input.
    """
    with reported_errors(RUN_OPTIONS):
        result = _run(
            episode_id=episode_id,
            transcript=transcript,
            audio=audio,
            podcast_id=podcast_id,
            store_url=store,
            diarizer=diarizer,
            hints=(num_speakers, min_speakers, max_speakers),
            force=force,
            drop_corrections=drop_corrections,
            quiet=quiet,
        )
    sys.stdout.write(result.model_dump_json(by_alias=True) + "\n")
    if result.status == "failed":
        raise typer.Exit(classify(result.error.type).exit_code if result.error is not None else EXIT_FAILED)
    raise typer.Exit(EXIT_OK)


def _run(
    *,
    episode_id: str,
    transcript: Path | None,
    audio: str | None,
    store_url: str | None,
    diarizer: str,
    podcast_id: str | None = None,
    hints: tuple[int | None, int | None, int | None] = (None, None, None),
    force: bool = False,
    drop_corrections: bool = False,
    quiet: bool = False,
) -> PipelineResult:
    from diarflow.adapters.stores import open_store
    from diarflow.config import Settings
    from diarflow.contracts import validate_id
    from diarflow.orchestration import RunOptions, Workspace
    from diarflow.orchestration.local import run_episode

    settle_imports()  # again: the pipeline's modules were imported just now
    validate_id(episode_id, "--episode-id")
    if podcast_id is not None:
        validate_id(podcast_id, "--podcast-id")
    settings = Settings.from_env(diarizer=diarizer or None, store=store_url)
    configure_logging(settings.log_level)
    ws = Workspace(store=open_store(settings.store), settings=settings)  # a bad store URL is named first
    data = None if transcript is None else read_input_file(transcript, "--transcript", settings.max_transcript_bytes)
    options = RunOptions(
        diarizer=settings.diarizer, num_speakers=hints[0], min_speakers=hints[1], max_speakers=hints[2]
    )
    return run_episode(
        ws,
        episode_id,
        transcript=data,
        audio=audio,
        podcast_id=podcast_id,
        options=options,
        force=force,
        drop_corrections=drop_corrections,
        observer=None if quiet else ConsoleObserver(stderr_console()),
    )


class ConsoleObserver:
    """One line per step on stderr: what ran, what was reused, what failed."""

    def __init__(self, console: Console, options: Mapping[str, str] | None = None) -> None:
        self.console = console
        self.options = RUN_OPTIONS if options is None else options
        """How the command spells the fields step errors name."""
        self._status: Any = None

    def step_started(self, name: str) -> None:
        if self.console.is_terminal:
            self._status = self.console.status(f"[bold]{name}[/] …")
            self._status.start()

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def step_finished(self, name: str, seconds: float, *, skipped: bool) -> None:
        self._stop()
        if skipped:
            self.console.print(f"[dim]↷ {name} (checkpoint reused)[/]")
        else:
            self.console.print(f"[green]✓[/] {name} [dim]{seconds:.2f} s[/]")

    def step_failed(self, name: str, error: StepFailed) -> None:
        self._stop()
        message = spelled(error.cause_message, self.options)
        self.console.print(f"[red]✗[/] {name}: {as_text(error.error_type)}: {as_text(message)}")

    def sleeping(self, name: str, seconds: float) -> None:
        self.console.print(f"[dim]… {name}: waiting {seconds:.0f} s[/]")


def show(
    episode_id: Annotated[str, typer.Argument(help="Episode id.")],
    store: StoreOption = None,
) -> None:
    """Show who spoke in an episode: speakers, labels, talk time, words, source and status."""
    with reported_errors():
        from diarflow.adapters.stores import open_store
        from diarflow.contracts import validate_id

        validate_id(episode_id)
        _print_summary(open_store(store), episode_id, stdout_console())


def _print_summary(store: ObjectStore, episode_id: str, console: Console) -> None:
    from rich.table import Table

    from diarflow.adapters.stores import get_json
    from diarflow.contracts import AuditArtifact, keys
    from diarflow.domain.enriched_words import read_enriched_words
    from diarflow.errors import ArtifactNotFound

    error_key = keys.error_key(episode_id)
    error_log = _stored_error_log(store, error_key) if store.exists(error_key) else None
    try:
        enriched = get_json(store, keys.enriched_key(episode_id))
    except ArtifactNotFound:
        if error_log is not None:
            last = error_log.errors[-1] if error_log.errors else None
            fail(f"episode {episode_id} failed" + (f": {last.type}: {last.message}" if last else ""))
        fail(f"no enriched transcript for episode {episode_id} in {store.url}: run `diarflow run` first")
    audit = _stored(AuditArtifact, get_json(store, keys.audit_key(episode_id)), keys.audit_key(episode_id))
    status = error_log.status if error_log else "completed"

    # Read as the report reads it, so both count the same words: a hand-edited word without a speaker is
    # unattributed, one without a valid start and end is not counted.
    words_by_speaker = read_enriched_words(enriched, lenient=True).speaker_counts()
    source = enriched.get("source") if isinstance(enriched, dict) else None
    table = Table(title=f"{episode_id} · source {as_text(source)} · status {status}")
    for column in ("speaker", "label", "diarizer label", "talk time", "share", "turns", "words", "confidence"):
        table.add_column(column, justify="right" if column in ("talk time", "share", "turns", "words") else "left")
    total = sum(cluster.duration for cluster in audit.clusters) or 1.0
    for cluster in audit.clusters:
        name = cluster.mapped_to or cluster.label
        confidence = cluster.diarization_confidence
        table.add_row(
            as_text(name),
            as_text(cluster.label),
            as_text(cluster.speaker_key),
            _clock(cluster.duration),
            f"{100 * cluster.duration / total:.1f}%",
            str(cluster.segments_count),
            str(words_by_speaker.get(name, 0)),
            "—" if confidence is None else f"{confidence:.2f}",
        )
    if words_by_speaker.get(None):
        table.add_row("(no speaker)", "—", "UNKNOWN", "—", "—", "—", str(words_by_speaker[None]), "—")
    console.print(table)
    for warning in audit.warnings:
        console.print(f"[yellow]{as_text(f'! {warning}')}[/]")
    for error in error_log.errors if error_log else ():
        console.print(f"[yellow]{as_text(f'! {error.step}: {error.type}: {spelled(error.message, RUN_OPTIONS)}')}[/]")


def _stored_error_log(store: ObjectStore, key: str) -> ErrorArtifact:
    from diarflow.adapters.stores import get_json
    from diarflow.contracts import ErrorArtifact

    return _stored(ErrorArtifact, get_json(store, key), key)


def _stored(model: type[ContractT], document: object, key: str) -> ContractT:
    """A stored artifact checked against its contract; a hand-edited or corrupted one fails naming the field."""
    from diarflow.contracts import parse_contract
    from diarflow.errors import InvalidInput

    try:
        return parse_contract(model, document, where=key)
    except InvalidInput as exc:  # the store's content, not the caller's usage: exit 1
        fail(f"invalid stored artifact: {exc.message}", EXIT_FAILED)


def _clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def demo(
    store: StoreOption = None,
    diarizer: Annotated[str, typer.Option("--diarizer", help="Diarizer for the demo (default: auto).")] = "",
) -> None:
    """Run the bundled sample episode end to end and show the result."""
    from diarflow.samples import sample_episode

    sample = sample_episode()
    console = stderr_console()
    console.print(f"[bold]diarflow demo[/]: episode {sample.episode_id} (pyannote's MIT-licensed two-speaker sample)")
    began = time.perf_counter()
    with reported_errors(RUN_OPTIONS):
        result = _run(
            episode_id=sample.episode_id,
            transcript=sample.transcript,
            audio=str(sample.audio),
            store_url=store,
            diarizer=diarizer,
        )
    from diarflow.adapters.stores import open_store
    from diarflow.config import Settings

    opened = open_store(Settings.from_env(store=store).store)
    out = stdout_console()
    out.print(f"\n[bold]{result.status}[/] in {time.perf_counter() - began:.2f} s, source {result.source}")
    out.print(f"artifacts in {as_text(opened.url)}:")
    from diarflow.contracts import keys

    report = keys.report_key(sample.episode_id)
    for key in (result.s3_diarization_key, result.s3_enriched_key, result.s3_audit_key, result.s3_error_key, report):
        if key and opened.exists(key):
            out.print(f"  {key}")
    if result.status != "failed":
        _print_summary(opened, sample.episode_id, out)
    raise typer.Exit(EXIT_OK if result.status != "failed" else EXIT_FAILED)

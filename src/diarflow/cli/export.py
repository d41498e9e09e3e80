"""``diarflow export``: an episode's transcript and diarization in standard formats."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from diarflow.cli._common import EXIT_FAILED, EXIT_USAGE, StoreOption, fail, reported_errors

if TYPE_CHECKING:
    from diarflow.adapters.stores import ObjectStore
    from diarflow.domain.exports import EpisodeExport, ExportFormat


class FormatChoice(StrEnum):
    """``--format`` values: each export format, and ``all``.

    Spelled out here rather than read from ``diarflow.domain.exports.FORMATS``
    so that building the CLI imports neither pydantic nor numpy; a test keeps
    the two equal.
    """

    RTTM = "rttm"
    SRT = "srt"
    VTT = "vtt"
    TXT = "txt"
    MD = "md"
    JSON = "json"
    ALL = "all"


FORMAT_NAMES = tuple(choice.value for choice in FormatChoice if choice is not FormatChoice.ALL)
DEFAULT_MAX_LINE_CHARS = 42
DEFAULT_MAX_LINES = 2
DEFAULT_MAX_CUE_DURATION = 7.0
DEFAULT_MAX_PAUSE = 2.0


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    episode_id: Annotated[str, typer.Argument(help="Episode id.")],
    format_name: Annotated[
        FormatChoice,
        typer.Option(
            "--format",
            "-f",
            help="rttm (diarization turns), srt/vtt (captions), txt/md (transcript by turn), "
            "json (turns), or all (every format, written to the store).",
        ),
    ],
    store: StoreOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False, help="Write to FILE instead of stdout (not with --format all)."),
    ] = None,
    max_line_chars: Annotated[
        int,
        typer.Option(
            "--max-line-chars",
            help="Captions: columns per line, a CJK character counting two (SRT counts the speaker prefix).",
        ),
    ] = DEFAULT_MAX_LINE_CHARS,
    max_lines: Annotated[int, typer.Option("--max-lines", help="Captions: lines per cue.")] = DEFAULT_MAX_LINES,
    max_cue_duration: Annotated[
        float, typer.Option("--max-cue-duration", help="Captions: seconds a cue may last.")
    ] = DEFAULT_MAX_CUE_DURATION,
    max_pause: Annotated[
        float, typer.Option("--max-pause", help="Captions: a silence longer than this (seconds) ends the cue.")
    ] = DEFAULT_MAX_PAUSE,
) -> None:
    """Export an episode as RTTM, SRT, WebVTT, text, Markdown or turn-level JSON.

    Prints to stdout, or writes --out FILE. --format all writes every format to
    the store under diarization/<id>/exports/<id>.<ext> and prints the keys.
    Words no speaker covers are shown as "Unknown", never dropped.

    Exit codes: 0 done, 1 an artifact is missing or unreadable, 2 bad usage.
    """
    with reported_errors():
        from diarflow.adapters.stores import open_store
        from diarflow.contracts import validate_id
        from diarflow.domain.exports import FORMATS, CaptionOptions
        from diarflow.errors import InvalidInput

        validate_id(episode_id)
        if format_name is FormatChoice.ALL and out is not None:
            fail("--out writes one format; --format all writes every format to the store", EXIT_USAGE)
        try:
            options = CaptionOptions(
                max_line_chars=max_line_chars,
                max_lines=max_lines,
                max_cue_duration=max_cue_duration,
                max_pause=max_pause,
            )
        except InvalidInput as exc:
            # Name the option as typed (--max-pause), not the dataclass field.
            fail(f"--{exc.field.replace('_', '-')}: {exc.problem}", EXIT_USAGE)
        formats = list(FORMATS.values()) if format_name is FormatChoice.ALL else [FORMATS[format_name.value]]
        target = open_store(store)
        episode = _load_episode(target, episode_id, formats)
        # Render everything before writing anything, so a format that refuses
        # this episode leaves no half-written set behind.
        rendered = [(fmt, fmt.write(episode, options)) for fmt in formats]

        if format_name is FormatChoice.ALL:
            _write_to_store(target, episode_id, rendered)
        elif out is not None:
            _write_file(out, rendered[0][1])
        else:
            _write_stdout(rendered[0][1])


def _load_episode(store: ObjectStore, episode_id: str, formats: list[ExportFormat]) -> EpisodeExport:
    """Read only the artifacts the chosen formats need; a missing one exits 1 naming it (as every storage error)."""
    from diarflow.errors import InvalidInput
    from diarflow.orchestration.exports import read_episode_export

    try:
        return read_episode_export(store, episode_id, formats)
    except InvalidInput as exc:
        # A stored artifact is malformed: not the caller's usage, so exit 1.
        fail(f"the stored artifacts of episode {episode_id} in {store.url} are invalid: {exc.message}", EXIT_FAILED)


def _write_to_store(store: ObjectStore, episode_id: str, rendered: list[tuple[ExportFormat, str]]) -> None:
    from diarflow.orchestration.exports import export_key

    for fmt, text in rendered:
        key = export_key(episode_id, fmt)
        store.put_bytes(key, text.encode("utf-8"), content_type=fmt.media_type)
        _write_stdout(key + "\n")


def _write_stdout(text: str) -> None:
    """Exports are UTF-8 whatever the terminal's locale, so write bytes when stdout has a buffer."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def _write_file(path: Path, text: str) -> None:
    try:
        path.write_bytes(text.encode("utf-8"))
    except OSError as exc:
        fail(f"--out: cannot write {path}: {exc.strerror or exc}", EXIT_FAILED)

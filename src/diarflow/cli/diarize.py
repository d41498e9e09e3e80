"""``diarflow diarize``: who spoke when in an audio file, like pyannote's command line (a transcript optional)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diarflow.cli._common import EXIT_OK, as_text, read_input_file, reported_errors, stderr_console

if TYPE_CHECKING:
    from diarflow.adapters.diarizers.base import DiarizerOutput

FORMATS = {".rttm": "rttm", ".json": "json"}


def register(app: typer.Typer) -> None:
    app.command("diarize")(diarize)


def diarize(
    audio: Annotated[str, typer.Argument(help="Audio file (any format FFmpeg reads) or an http(s) URL.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False, help="Write to FILE.rttm or FILE.json (default: RTTM on stdout)."),
    ] = None,
    num_speakers: Annotated[int | None, typer.Option("--num-speakers", min=1, help="Exact speaker count.")] = None,
    min_speakers: Annotated[int | None, typer.Option("--min-speakers", min=1)] = None,
    max_speakers: Annotated[int | None, typer.Option("--max-speakers", min=1)] = None,
    transcript: Annotated[
        Path | None,
        typer.Option(
            "--transcript",
            dir_okay=False,
            help="The audio's transcript (Deepgram JSON or plain words): speech is drawn where its words are.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Diarize AUDIO offline (segmentation-3.0 + CAM++): no account, no upload, a transcript optional.

    Overlapping speech is kept: two people talking at once are two turns. With --transcript, speech
    is where its words are (podcast references draw turns tighter than the audio alone does). Exit
    codes: 0 done, 1 the audio could not be diarized, 2 bad usage, unreadable audio or transcript.
    """
    with reported_errors():
        from diarflow.adapters.diarizers.local import audio as audio_io
        from diarflow.adapters.diarizers.local import load_local_diarizer
        from diarflow.adapters.url_policy import UrlPolicy
        from diarflow.config import Settings
        from diarflow.domain.speaker_counts import check_speaker_counts
        from diarflow.domain.transcript import parse_transcript
        from diarflow.errors import InvalidInput

        format_name = "rttm"
        if out is not None:
            if out.suffix.lower() not in FORMATS:
                raise InvalidInput("--out", f"{out.name}: write a .rttm or a .json file")
            format_name = FORMATS[out.suffix.lower()]
        check_speaker_counts(num_speakers, min_speakers, max_speakers)
        settings = Settings.from_env()
        words = None
        if transcript is not None:
            words = parse_transcript(read_input_file(transcript, "--transcript", settings.max_transcript_bytes))
        console = stderr_console()
        with _Progress(console, enabled=not quiet) as progress:
            # The audio is opened here, under the CLI's own URL policy, so the diarizer needs none.
            diarizer = load_local_diarizer(progress=progress.update)
            with audio_io.local_audio_path(audio, UrlPolicy.from_settings(settings, local_run=True)) as path:
                output = diarizer.diarize_file(
                    path,
                    num_speakers=num_speakers,
                    min_speakers=min_speakers,
                    max_speakers=max_speakers,
                    transcript=words,
                )
        uri = _uri(audio)
        text = _rttm(output, uri) if format_name == "rttm" else _json(output, audio)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text)
        if not quiet:
            for warning in output.warnings:
                console.print(f"[yellow]{as_text(f'! {warning}')}[/]")
            where = f" → {as_text(out)}" if out is not None else ""
            console.print(
                f"{output.turns.num_speakers} speakers, {len(output.turns)} turns, "
                f"{output.turns.speech_time:.1f} s of speech{where}"
            )
    raise typer.Exit(EXIT_OK)


def _uri(audio: str) -> str:
    """The file id in RTTM lines: the audio's name without extension, whitespace made ``_``."""
    from urllib.parse import urlsplit

    from diarflow.domain.exports.rttm import rttm_name

    name = Path(urlsplit(audio).path or audio).stem
    return rttm_name(name) or "audio"


def _rttm(output: DiarizerOutput, uri: str) -> str:
    from diarflow.domain.exports.rttm import rttm_lines, rttm_name

    turns = output.turns
    return rttm_lines(turns, uri, [rttm_name(name) or name for name in turns.speaker_names])


def _json(output: DiarizerOutput, audio: str) -> str:
    import orjson

    document: dict[str, Any] = {
        "audio": audio,
        "model": output.model,
        "segments": output.turns.to_segments(),
        "exclusive_segments": output.exclusive.to_segments() if output.exclusive is not None else None,
        "warnings": list(output.warnings),
    }
    if output.speaker_embeddings is not None:  # each voice, comparable with CAM++ voiceprints
        document["cluster_embeddings"] = output.speaker_embeddings.as_document()
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


class _Progress:
    """A rich progress bar on stderr, fed ``(stage, seconds done, seconds total)`` by the diarizer."""

    def __init__(self, console: Any, *, enabled: bool) -> None:
        self._enabled = enabled
        self._console = console
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self._enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[clock]}"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("diarizing", total=None, clock="")
        return self

    def update(self, stage: str, done: float, total: float | None) -> None:
        if self._bar is None:
            return
        clock = f"{done / 60:.1f} / {total / 60:.1f} min" if total else f"{done / 60:.1f} min"
        self._bar.update(self._task, description=stage, completed=done, total=total, clock=clock)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

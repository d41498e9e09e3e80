"""``diarflow eval``: score an episode's diarization against a reference.

DER (false alarm, missed, confusion) and JER from pyannote.metrics against an
RTTM, and with ``--words-reference`` the word-level speaker error rate of the
enriched transcript. Works for any diarizer's output (local, pyannoteAI,
Deepgram fallback): it only reads the stored artifacts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from diarflow.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    StoreOption,
    as_text,
    fail,
    read_input_file,
    reported_errors,
    stdout_console,
)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)


def evaluate(
    episode_id: Annotated[str, typer.Option("--episode-id", help="Episode whose stored diarization is scored.")],
    reference: Annotated[
        Path, typer.Option("--reference", dir_okay=False, help="Reference RTTM (SPEAKER lines) for this episode.")
    ],
    words_reference: Annotated[
        Path | None,
        typer.Option(
            "--words-reference",
            dir_okay=False,
            help='Reference speaker of each word: JSON [{"start", "end", "speaker"}] or {"words": [...]}.',
        ),
    ] = None,
    collar: Annotated[
        float, typer.Option("--collar", min=0.0, help="No-score zone around reference boundaries, total width (s).")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON instead of a table.")] = False,
    store: StoreOption = None,
) -> None:
    """Score the stored diarization of an episode: DER, its parts, JER; word speaker error with --words-reference.

    Exit codes: 0 scored, 1 an artifact is missing or unreadable, 2 bad usage or reference.
    """
    with reported_errors():
        from diarflow.adapters.stores import get_json, open_store
        from diarflow.config import Settings
        from diarflow.contracts import MAX_SECONDS, keys, validate_id
        from diarflow.domain import diarization_metrics as metrics
        from diarflow.domain.json_values import undecodable
        from diarflow.domain.turns import Turns
        from diarflow.errors import ArtifactNotFound, InvalidInput

        validate_id(episode_id)
        if not collar <= MAX_SECONDS:
            fail(f"--collar: must be at most {MAX_SECONDS:,} seconds, got {collar}", EXIT_USAGE)
        settings = Settings.from_env(store=store)
        limit = settings.max_transcript_bytes
        reference_text = _read_text(reference, "--reference", limit)
        reference_turns = metrics.parse_rttm(reference_text, path=str(reference))
        word_reference = None
        if words_reference is not None:
            import orjson

            text = _read_text(words_reference, "--words-reference", limit)
            try:
                document = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                field, problem = undecodable(text, exc, str(words_reference))
                fail(f"--words-reference: {field}: {problem}", EXIT_USAGE)
            word_reference = metrics.parse_word_reference(document, path=str(words_reference))

        target = open_store(settings.store)
        key = keys.diarization_key(episode_id)
        try:
            diarization = get_json(target, key)
        except ArtifactNotFound:
            fail(
                f"no diarization for episode {episode_id} in {target.url} ({key} is missing): run `diarflow run` first"
            )
        segments = diarization.get("segments") if isinstance(diarization, dict) else None
        if not isinstance(segments, list):
            fail(f"the stored diarization {key} has no segments list", EXIT_FAILED)
        try:
            hypothesis = Turns.from_segments(segments, path=f"{key}: segments")
        except InvalidInput as exc:
            fail(f"the stored diarization is invalid: {exc.message}", EXIT_FAILED)
        names = hypothesis.speaker_names
        hypothesis_turns = [
            (start, end, names[speaker])
            for start, end, speaker in zip(
                hypothesis.starts.tolist(), hypothesis.ends.tolist(), hypothesis.speakers.tolist(), strict=True
            )
        ]
        scores = metrics.diarization_scores(reference_turns, hypothesis_turns, collar=collar)
        result: dict[str, Any] = {
            "episode_id": episode_id,
            "source": diarization.get("source"),
            **metrics.scores_as_dict(scores),
        }
        if word_reference is not None:
            enriched_key = keys.enriched_key(episode_id)
            try:
                enriched = get_json(target, enriched_key)
            except ArtifactNotFound:
                fail(f"--words-reference needs the enriched transcript, but {enriched_key} is missing in {target.url}")
            words = enriched.get("words") if isinstance(enriched, dict) else None
            if not isinstance(words, list):
                fail(f"the stored enriched transcript {enriched_key} has no words list", EXIT_FAILED)
            hypothesis_words = [_hypothesis_word(word) for word in words if isinstance(word, dict)]
            word_scores = metrics.word_speaker_error_rate(word_reference, hypothesis_words)
            result["words"] = metrics.scores_as_dict(word_scores)

        if as_json:
            import orjson

            sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            _print_table(result)


def _hypothesis_word(word: dict[str, Any]) -> tuple[float, float, str | None]:
    from diarflow.contracts import UNKNOWN_SPEAKER
    from diarflow.domain.json_values import is_time

    # Map on the diarization cluster, not the display name: identification may name two clusters alike.
    speaker = word.get("diar_speaker")
    if not isinstance(speaker, str) or speaker == UNKNOWN_SPEAKER:
        speaker = None
    start, end = word.get("start"), word.get("end")
    start = float(start) if is_time(start) else 0.0
    end = float(end) if is_time(end) else start
    return start, end, speaker


def _read_text(path: Path, option: str, limit: int) -> str:
    """A reference file as text: at most ``limit`` bytes (``DIARFLOW_MAX_TRANSCRIPT_BYTES``) of UTF-8."""
    data = read_input_file(path, option, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{option}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start:,})", EXIT_USAGE)


def _print_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"diarflow eval — {result['episode_id']} ({as_text(result.get('source') or 'unknown source')})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("DER", f"{result['der']:.2%}")
    table.add_row("  false alarm", f"{result['false_alarm']:.2%}")
    table.add_row("  missed speech", f"{result['missed']:.2%}")
    table.add_row("  confusion", f"{result['confusion']:.2%}")
    table.add_row("JER", f"{result['jer']:.2%}")
    table.add_row("collar", f"{result['collar']:g} s")
    table.add_row("reference speech", f"{result['reference_speech']:.1f} s")
    table.add_row(
        "speakers (reference / hypothesis)", f"{result['reference_speakers']} / {result['hypothesis_speakers']}"
    )
    words = result.get("words")
    if words:
        table.add_row("word speaker error", f"{words['error_rate']:.2%}")
        table.add_row("  words (errors / total)", f"{words['errors']} / {words['words']}")
        table.add_row("  words without a speaker", str(words["unattributed"]))
    stdout_console().print(table)

"""``diarflow report``: the episode's HTML report (who spoke when), stored and optionally copied."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from diarflow.cli._common import EXIT_FAILED, StoreOption, fail, reported_errors


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    episode_id: Annotated[str, typer.Argument(help="Episode id.")],
    store: StoreOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False, help="Also write the page to FILE (it is always stored)."),
    ] = None,
    audio: Annotated[
        str | None,
        typer.Option(
            "--audio",
            help="Audio for the page's player: an unsigned http(s) URL, or a path relative to where "
            "the page is opened. Without it, clicks move the transcript only.",
        ),
    ] = None,
) -> None:
    """Write the episode's self-contained HTML report to diarization/<id>.report.html.

    The page shows a timeline with one lane per speaker, talk time per speaker,
    the transcript coloured by speaker (low-confidence words marked), the
    audit and any recorded errors. Prints the stored key, then FILE with --out.

    Exit codes: 0 written, 1 nothing to report (no enriched transcript or error
    artifact) or the store failed, 2 bad usage (invalid id or --audio).
    """
    with reported_errors():
        from diarflow.adapters.stores import open_store
        from diarflow.contracts import validate_id
        from diarflow.report import check_audio_src, render_episode_report, store_report

        validate_id(episode_id)
        check_audio_src(audio, field="--audio")
        target = open_store(store)
        page = render_episode_report(target, episode_id, audio_src=audio)
        key = store_report(target, episode_id, page)
        sys.stdout.write(key + "\n")
        if out is not None:
            try:
                out.write_bytes(page.encode("utf-8"))
            except OSError as exc:
                fail(f"--out: cannot write {out}: {exc.strerror or exc}", EXIT_FAILED)
            sys.stdout.write(f"{out}\n")

"""Render the episode report: one self-contained HTML page, no I/O.

The summary parts (header, errors, talk time, audit) are rendered here as
escaped HTML, so they read even without JavaScript. The large parts (the
timeline and the transcript) are embedded as compact JSON in a
``<script type="application/json">`` block and drawn by the page's script:
the timeline on a canvas for the visible range only, the transcript one
paragraph at a time as it scrolls into view. Every piece of artifact text
reaches the page either through :func:`html.escape` or through the DOM's
``textContent``; the embedded JSON escapes ``<``, ``>`` and ``&`` so that no
word can close its script element.

The page loads nothing from the network: its script, styles and data are
inline, and its Content-Security-Policy allows only that inline script (by
hash) plus media for the audio player and the audit clips.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import metadata, resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from diarflow.contracts import AuditArtifact, ClusterSummary, ErrorArtifact, validate_id
from diarflow.domain.exports.episode import strip_controls
from diarflow.errors import InvalidInput
from diarflow.report.model import (
    LOW_CONFIDENCE_BELOW,
    PALETTE,
    UNATTRIBUTED,
    ReportModel,
    Speaker,
    build_report_model,
)

_SOURCE_NAMES = {
    "pyannote": "pyannoteAI",
    "local": "Local diarizer",
    "deepgram_fallback": "Deepgram fallback",
    "channels": "Channels (a speaker per track)",
}
_STATUS_NAMES = {"completed": "Completed", "partial": "Partial", "failed": "Failed"}
_REGISTRY_NAMES = {
    "ok": "available",
    "empty": "empty (no voiceprints yet)",
    "not_configured": "not configured",
    "unavailable": "unavailable",
}
_SIGNED_URL_PARAMETERS = frozenset(
    {"x-amz-signature", "x-amz-credential", "x-amz-security-token", "signature", "sig", "token", "access_token"}
)
_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")


def render_report(
    enriched: Mapping[str, Any] | None,
    diarization: Mapping[str, Any] | None,
    audit: Mapping[str, Any] | None,
    error: Any,
    *,
    audio_src: str | None = None,
    clips: Mapping[str, str] | None = None,
    episode_id: str | None = None,
    low_confidence_below: float = LOW_CONFIDENCE_BELOW,
    notes: Sequence[str] = (),
) -> str:
    """The report page of one run, as an HTML document.

    ``enriched``, ``diarization``, ``audit`` and ``error`` are the parsed
    artifacts (any may be ``None``). ``audio_src`` is the episode audio the
    player loads (a URL, or a path relative to where the page will be
    opened); it must carry no credentials. ``clips`` maps cluster labels to
    their representative clip (a ``data:`` URI or a relative path).
    ``episode_id`` defaults to the one the artifacts name; ``notes`` are
    problems met while reading the artifacts, shown at the top.
    """
    episode = episode_id or _episode_id_of(enriched, diarization, audit, error)
    check_audio_src(audio_src)
    for label, clip in (clips or {}).items():
        check_audio_src(clip, field=f"clips[{label!r}]")
    model = build_report_model(
        episode, enriched, diarization, audit, error, low_confidence_below=low_confidence_below, notes=notes
    )
    return render_model(model, audio_src=audio_src, clips=dict(clips or {}))


def render_model(model: ReportModel, *, audio_src: str | None, clips: dict[str, str]) -> str:
    """Fill the page template with a prepared :class:`ReportModel`."""
    script = _asset("report.js")
    values = {
        "csp": _content_security_policy(script),
        "version": html.escape(_diarflow_version()),
        "title": html.escape(f"{model.episode_id} · diarflow report"),
        "css": _asset("report.css"),
        "header": _header_html(model, audio_src is not None),
        "alerts": _alerts_html(model),
        "timeline_note": _timeline_note(model),
        "transcript_summary": _transcript_summary(model),
        "speakers": _speakers_html(model),
        "audit": _audit_html(model, clips),
        "data": embed_json(report_payload(model, audio_src=audio_src, clips=clips)),
        "script": script,
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], _asset("report.html"))


def report_payload(model: ReportModel, *, audio_src: str | None, clips: Mapping[str, str]) -> dict[str, Any]:
    """The data the page's script draws from: columns, compact and index-based."""
    label_owner = {label: index for index, speaker in enumerate(model.speakers) for label in speaker.labels}
    name_owner = {speaker.name: index for index, speaker in enumerate(model.speakers)}
    alternatives: dict[str, list[list[Any]]] = {}
    for word_index, alts in model.words.alternatives.items():
        rows: list[list[Any]] = []
        for written, percent in alts:
            owner = name_owner.get(written, label_owner.get(written, UNATTRIBUTED))
            rows.append([owner, _alternative_name(written, owner, model.speakers), percent])
        alternatives[str(word_index)] = rows
    words = model.words
    turns = model.turns
    return {
        "episode": model.episode_id,
        "durationMs": round(model.duration_seconds * 1000),
        "lowConfidencePct": round(model.low_confidence_below * 100),
        "speakers": [
            {
                "name": speaker.name,
                "labels": list(speaker.labels),
                "keys": list(speaker.diar_speakers),
                "namedBy": speaker.named_by,
                "channels": list(speaker.channels),
                "color": speaker.color,
                "identified": speaker.identified,
                "talkSeconds": round(speaker.talk_seconds, 3),
            }
            for speaker in model.speakers
        ],
        "turns": {
            "start": turns.start_ms,
            "end": turns.end_ms,
            "speaker": turns.speaker,
            "conf": turns.confidence_pct,
        },
        "words": {
            "text": words.text,
            "start": words.start_ms,
            "end": words.end_ms,
            "speaker": words.speaker,
            "conf": words.confidence_pct,
            "flags": words.flags,
        },
        "alternatives": alternatives,
        "palette": list(PALETTE),
        "paragraphs": words.paragraph_starts,
        "audio": audio_src,
        "clips": dict(clips),
    }


def embed_json(value: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` survive."""
    text = orjson.dumps(value).decode("utf-8")
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def check_audio_src(src: str | None, *, field: str = "audio_src") -> None:
    """Refuse media sources the page must not carry: script URLs and URLs with credentials.

    A stored report outlives a signed URL and must never leak one (no more than
    the error artifact may: docs/architecture.md, "Errors and secrets"), so a
    URL with user info or a signature-like query parameter is rejected; give an
    unsigned URL or a path relative to the page instead.
    """
    if src is None:
        return
    if not src.strip() or any(ord(char) < 32 for char in src):
        raise InvalidInput(field, "must be a non-empty URL or relative path without control characters")
    parts = urlsplit(src)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if parts.username or parts.password:
            raise InvalidInput(field, "must not carry a user name or password")
        if any(name.lower() in _SIGNED_URL_PARAMETERS for name, _ in parse_qsl(parts.query)):
            raise InvalidInput(field, "looks like a signed URL; a stored report must not carry credentials")
    elif scheme == "data":
        if not src[5:].lower().startswith(("audio/", "video/")):
            raise InvalidInput(field, "a data: URI must hold audio")
    elif scheme not in ("", "file") and len(scheme) > 1:
        raise InvalidInput(
            field, f"unsupported URL scheme {scheme!r}: use http(s), file, data:audio or a relative path"
        )


def format_duration(seconds: float) -> str:
    """``83.4 -> '1:23'``, ``3723 -> '1:02:03'``: how the page writes durations and times."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_share(share: float) -> str:
    """A share of talk time as the page shows it (``0.4123 -> '41.2%'``)."""
    return f"{share * 100:.1f}%"


# --- page parts --------------------------------------------------------------------------


def _header_html(model: ReportModel, has_audio: bool) -> str:
    status = model.status
    source = _SOURCE_NAMES.get(model.source or "", model.source or "—")
    facts = [
        ("Duration", format_duration(model.duration_seconds)),
        ("Speakers", str(len(model.speakers))),
        ("Words", f"{len(model.words):,}"),
        ("Created", _readable_timestamp(model.created_at) if model.created_at else "—"),
    ]
    fact_html = "".join(f"<div><dt>{_e(name)}</dt><dd>{_e(value)}</dd></div>" for name, value in facts)
    audio_note = "" if has_audio else "No audio linked to this report: clicks move the transcript only."
    return (
        '<header class="topbar">'
        '<div class="ident"><div class="eyebrow">diarflow · episode report</div>'
        f'<h1 title="Episode id">{_e(model.episode_id)}</h1></div>'
        '<div class="badges">'
        f'<span class="badge status status-{_e(status)}" id="run-status" data-status="{_e(status)}">'
        f"{_e(_STATUS_NAMES[status])}</span>"
        f'<span class="badge source" id="run-source" data-source="{_e(model.source or "")}">'
        f'<span class="muted">Source</span> {_e(source)}</span>'
        "</div>"
        f'<dl class="facts">{fact_html}</dl>'
        '<div class="player" id="player"><audio id="audio" controls preload="metadata"></audio>'
        f'<span class="audio-note" id="audio-note">{_e(audio_note)}</span></div>'
        "</header>"
    )


def _alerts_html(model: ReportModel) -> str:
    parts: list[str] = []
    if model.notes:
        items = "".join(f"<li>{_e(note)}</li>" for note in model.notes)
        parts.append(
            f'<section class="alert alert-note"><h2>Artifacts read with problems</h2><ul>{items}</ul></section>'
        )
    if model.error is not None:
        parts.append(_error_html(model.error))
    elif model.error_raw is not None:
        try:
            dumped = orjson.dumps(model.error_raw, option=orjson.OPT_INDENT_2).decode("utf-8")
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (255 levels): not an error log
            dumped = "(not shown: nested too deep to print)"
        parts.append(
            f'<section class="alert alert-{_e(model.status)}" id="error-artifact"><h2>Error artifact</h2>'
            f"<pre>{_e(dumped)}</pre></section>"
        )
    return "".join(parts)


def _error_html(error: ErrorArtifact) -> str:
    count = len(error.errors)
    heading = "Run failed" if error.status == "failed" else "Run completed with degraded stages"
    rows = "".join(
        "<tr>"
        f'<td class="mono">{_e(record.step)}</td>'
        f'<td><span class="mono">{_e(record.type)}</span></td>'
        f'<td class="message">{_e(record.message)}</td>'
        f"<td>{'yes' if record.retryable else 'no'}</td>"
        f'<td class="num">{record.attempt}</td>'
        f'<td class="when">{_e(_readable_timestamp(record.occurred_at))}</td>'
        "</tr>"
        for record in error.errors
    )
    return (
        f'<section class="alert alert-{_e(error.status)}" id="error-artifact">'
        f"<h2>{_e(heading)} · {count} error{'s' if count != 1 else ''} recorded</h2>"
        '<div class="table-wrap"><table class="errors"><thead><tr><th>Step</th><th>Type</th><th>Message</th>'
        '<th>Retryable</th><th class="num">Attempt</th><th>When</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></section>"
    )


def _timeline_note(model: ReportModel) -> str:
    if model.turns_from == "transcript":
        return "Turns drawn from the transcript's words (no raw diarization artifact)."
    if model.turns_from == "none":
        return "No turns: this run produced no diarization and no transcript."
    return ""


def _transcript_summary(model: ReportModel) -> str:
    if not model.has_transcript:
        return "No enriched transcript for this run."
    parts = [f"{len(model.words):,} words"]
    if model.low_confidence_words:
        parts.append(f"{model.low_confidence_words:,} low confidence")
    if model.unattributed_words:
        parts.append(f"{model.unattributed_words:,} unattributed")
    return " · ".join(parts)


def _speakers_html(model: ReportModel) -> str:
    if not model.speakers:
        return '<section class="card speakers-card"><h2>Talk time</h2><p class="empty">No speakers.</p></section>'
    rows = "".join(_speaker_row(index, speaker) for index, speaker in enumerate(model.speakers))
    total = sum(speaker.talk_seconds for speaker in model.speakers)
    footer = f"Total speech {format_duration(total)} of {format_duration(model.duration_seconds)}"
    if model.unattributed_words:
        footer += f" · {model.unattributed_words:,} unattributed words"
    return (
        '<section class="card speakers-card" aria-labelledby="speakers-heading">'
        '<h2 id="speakers-heading">Talk time</h2>'
        '<table class="speakers" id="speakers"><thead><tr><th>Speaker</th><th class="num">Talk time</th>'
        '<th class="share-col">Share</th><th class="num">Turns</th><th class="num">Words</th></tr></thead>'
        f'<tbody>{rows}</tbody></table><p class="footnote">{_e(footer)}</p></section>'
    )


def track_text(channel: int) -> str:
    """How a track is named to people: counted from 1, as audio editors number them (channel 0 is track 1)."""
    return f"track {channel + 1}"


def _speaker_row(index: int, speaker: Speaker) -> str:
    meta = [label for label in speaker.labels if label != speaker.name]
    meta += [track_text(channel) for channel in speaker.channels]
    status = _speaker_status(speaker)
    share_pct = f"{speaker.share * 100:.1f}"
    return (
        f'<tr class="speaker-row" data-speaker="{index}" style="--c:{_e(speaker.color)}">'
        f'<td class="who"><div class="who-line"><span class="swatch"></span>'
        f'<span class="speaker-name">{_e(speaker.name)}</span></div>'
        f'<div class="who-meta">{"".join(f"{_e(label)} · " for label in meta)}{status}</div></td>'
        f'<td class="num talk-time" data-seconds="{speaker.talk_seconds:.3f}">'
        f"{_e(format_duration(speaker.talk_seconds))}</td>"
        f'<td class="share-col"><span class="share-bar"><i style="width:{share_pct}%"></i></span>'
        f'<span class="share">{_e(format_share(speaker.share))}</span></td>'
        f'<td class="num">{speaker.turn_count:,}</td><td class="num">{speaker.word_count:,}</td>'
        "</tr>"
    )


def _speaker_status(speaker: Speaker) -> str:
    """Where the speaker's name comes from: a person's correction, a voiceprint, or nowhere (its label)."""
    if speaker.named_by is not None:
        return _named_by_html(speaker.named_by)
    if speaker.identified:
        return '<span class="identified" title="Matched to a voiceprint in the registry">identified</span>'
    return '<span class="unidentified" title="No voiceprint matched: shown by its label">not identified</span>'


def _named_by_html(author: str) -> str:
    return f'<span class="named-by" title="Named in a speaker correction">named by {_e(author)}</span>'


def _audit_html(model: ReportModel, clips: Mapping[str, str]) -> str:
    audit = model.audit
    body: list[str] = []
    if audit is None:
        body.append('<p class="empty">No audit artifact for this run.</p>')
    else:
        body.append(_audit_overview(audit))
        body.append(_clusters_html(audit, model, clips))
        body.append(_near_misses_html(audit, model))
        body.append(_thresholds_html(audit))
    body.append(_diarization_details(model))
    return (
        '<section class="card audit-card" id="audit" aria-labelledby="audit-heading">'
        f'<h2 id="audit-heading">Audit</h2>{"".join(body)}</section>'
    )


def _audit_overview(audit: AuditArtifact) -> str:
    registry = _REGISTRY_NAMES.get(audit.registry_status, audit.registry_status)
    items = [
        ("Voiceprint registry", registry),
        ("Segments", f"{audit.total_segments:,}"),
        ("Clusters", str(len(audit.clusters))),
    ]
    return '<dl class="kv">' + "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items) + "</dl>"


def _clusters_html(audit: AuditArtifact, model: ReportModel, clips: Mapping[str, str]) -> str:
    if not audit.clusters:
        return '<h3>Clusters</h3><p class="empty">No clusters.</p>'
    color_of = {key: speaker.color for speaker in model.speakers for key in speaker.diar_speakers}
    rows = []
    for cluster in audit.clusters:
        mapped = (
            f'<span class="speaker-name">{_e(cluster.mapped_to)}</span>'
            f'<span class="muted"> · {_mapping_source(cluster)}</span>'
            if cluster.mapped_to
            else '<span class="muted">not identified</span>'
        )
        diar_conf = (
            f'<div class="muted small">diarization {_e(_percent_text(cluster.diarization_confidence))}</div>'
            if cluster.diarization_confidence is not None
            else ""
        )
        rows.append(
            f'<tr style="--c:{_e(color_of.get(cluster.speaker_key, "#94a3b8"))}">'
            f'<td><span class="swatch"></span><span class="label-chip">{_e(cluster.label)}</span>'
            f'<div class="mono small" title="Diarizer speaker key">{_e(cluster.speaker_key)}</div>'
            f"{_track_note(cluster.channel)}</td>"
            f"<td>{mapped}{diar_conf}</td>"
            f'<td class="num">{_e(format_duration(cluster.duration))}'
            f'<div class="muted small">{cluster.segments_count:,} seg.</div></td>'
            f"<td>{_representative_html(cluster.label, cluster.representative, clips)}</td>"
            "</tr>"
        )
    return (
        '<h3>Clusters</h3><div class="table-wrap"><table class="clusters" id="clusters"><thead><tr>'
        '<th>Cluster</th><th>Identified as</th><th class="num">Speech</th><th>Representative</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _mapping_source(cluster: ClusterSummary) -> str:
    """A voiceprint match's confidence, or who named the cluster by hand (a correction has no confidence)."""
    if cluster.named_by is not None:
        return _named_by_html(cluster.named_by.author)
    return _e(_percent_text(cluster.confidence))


def _track_note(channel: int | None) -> str:
    if channel is None:
        return ""
    return f'<div class="muted small track" title="Recorded on this track">{_e(track_text(channel))}</div>'


def _representative_html(label: str, representative: Any, clips: Mapping[str, str]) -> str:
    if representative is None:
        return '<span class="muted">—</span>'
    span = f"{format_duration(representative.start)}–{format_duration(representative.end)}"
    seek = (
        f'<button type="button" class="link seek" data-seek="{representative.start:.3f}" '
        f'title="Play from here in the episode audio">{_e(span)}</button>'
    )
    clip = (
        f'<button type="button" class="clip-button" data-clip="{_e(label)}" aria-label="Play clip {_e(label)}" '
        'title="Play the representative clip">▶</button>'
        if label in clips
        else ""
    )
    return f'<div class="representative">{clip}{seek}</div>'


def _near_misses_html(audit: AuditArtifact, model: ReportModel) -> str:
    if not audit.near_misses:
        return '<h3>Near misses</h3><p class="empty">None: every decision was clear.</p>'
    label_of = {cluster.speaker_key: cluster.label for cluster in audit.clusters}
    rows = "".join(
        "<tr>"
        f'<td><span class="label-chip">{_e(label_of.get(miss.cluster_key, "?"))}</span>'
        f'<span class="mono small"> {_e(miss.cluster_key)}</span></td>'
        f'<td>{_e(miss.display_name or "")}<div class="mono small">{_e(miss.reference_id)}</div></td>'
        f'<td class="num">{_e(_percent_text(miss.confidence))}</td>'
        f'<td class="num">{_e(_percent_text(miss.threshold))}</td>'
        "</tr>"
        for miss in audit.near_misses
    )
    return (
        '<h3>Near misses</h3><div class="table-wrap"><table class="near-misses" id="near-misses"><thead><tr>'
        '<th>Cluster</th><th>Voiceprint</th><th class="num">Score</th><th class="num">Threshold</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _thresholds_html(audit: AuditArtifact) -> str:
    thresholds = audit.thresholds
    items = [
        ("Near-miss margin", _percent_text(thresholds.near_miss_margin)),
        ("Gap tolerance", f"{thresholds.gap_tolerance:g} s"),
        ("Fallback confidence", _percent_text(thresholds.fallback_confidence)),
        (
            "Match threshold",
            _percent_text(thresholds.match_threshold) if thresholds.match_threshold is not None else "—",
        ),
    ]
    rows = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items)
    return f'<h3>Thresholds</h3><dl class="kv" id="thresholds">{rows}</dl>'


def _diarization_details(model: ReportModel) -> str:
    items = [
        (name, value)
        for name, value in (("Model", model.diarization_model), ("Job", model.diarization_job_id))
        if value
    ]
    if not items and not model.diarization_warnings:
        return ""
    rows = "".join(f'<div><dt>{_e(k)}</dt><dd class="mono">{_e(v)}</dd></div>' for k, v in items)
    warnings = "".join(f"<li>{_e(warning)}</li>" for warning in model.diarization_warnings)
    return f'<h3>Diarization</h3><dl class="kv">{rows}</dl>' + (
        f'<ul class="warnings">{warnings}</ul>' if warnings else ""
    )


# --- helpers ----------------------------------------------------------------------------


def _alternative_name(written: str, owner: int, speakers: list[Speaker]) -> str:
    if owner == UNATTRIBUTED or speakers[owner].name == written:
        return written
    return f"{speakers[owner].name} ({written})"


def _episode_id_of(*artifacts: Any) -> str:
    for artifact in artifacts:
        value = artifact.get("episode_id") if isinstance(artifact, Mapping) else None
        if isinstance(value, str):
            return validate_id(value)
    raise InvalidInput("episode_id", "no artifact names the episode; pass episode_id")


def _percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _readable_timestamp(value: str) -> str:
    """``2026-11-29T12:57:02.123Z -> '2026-11-29 12:57 UTC'``; anything else as given."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]00:00)?", value)
    if match is None:
        return value
    return f"{match.group(1)} {match.group(2)}" + (" UTC" if match.group(3) else "")


def _e(value: str) -> str:
    """Artifact text as HTML: escaped, and without control characters (a NUL or ESC is no text to show)."""
    return html.escape(strip_controls(value), quote=True)


def _content_security_policy(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}'; "
        "style-src 'unsafe-inline'; "
        "img-src data:; "
        "media-src * data: blob: file:; "
        "base-uri 'none'; form-action 'none'"
    )


@cache
def _asset(name: str) -> str:
    return resources.files("diarflow.report").joinpath("assets", name).read_text(encoding="utf-8")


@cache
def _diarflow_version() -> str:
    try:
        return metadata.version("diarflow")
    except metadata.PackageNotFoundError:
        return "unknown"

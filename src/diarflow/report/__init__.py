"""The episode report: a self-contained HTML page showing who spoke when.

:func:`render_report` turns artifacts into HTML (pure); :func:`write_report`
reads an episode's artifacts from a store, renders and stores the page at
``diarization/<id>.report.html``.
"""

from diarflow.report.model import (
    LOW_CONFIDENCE_BELOW,
    ReportModel,
    Speaker,
    build_report_model,
    run_status,
    speech_time,
)
from diarflow.report.render import check_audio_src, embed_json, format_duration, format_share, render_report
from diarflow.report.writer import (
    MAX_EMBEDDED_CLIP_BYTES,
    ReportInputs,
    read_report_inputs,
    render_episode_report,
    store_report,
    write_report,
)

__all__ = [
    "LOW_CONFIDENCE_BELOW",
    "MAX_EMBEDDED_CLIP_BYTES",
    "ReportInputs",
    "ReportModel",
    "Speaker",
    "build_report_model",
    "check_audio_src",
    "embed_json",
    "format_duration",
    "format_share",
    "read_report_inputs",
    "render_episode_report",
    "render_report",
    "run_status",
    "speech_time",
    "store_report",
    "write_report",
]

"""Configuration from the environment, validated once, with errors naming the variable.

Every setting has a documented default (README "Configuration"). Secrets
(API keys) are held as :class:`Secret` so they never show in ``repr`` or logs.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

from diarflow.adapters.stores import DEFAULT_STORE
from diarflow.domain.alignment import DEFAULT_GAP_TOLERANCE, DEFAULT_NEAR_MISS_MARGIN
from diarflow.domain.fallback import DEFAULT_FALLBACK_CONFIDENCE
from diarflow.domain.identification import (
    DEFAULT_MATCH_MARGIN,
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_PYANNOTE_MATCH_THRESHOLD,
    DEFAULT_SHORT_ENROLMENT_THRESHOLD,
)
from diarflow.errors import InvalidConfig

DiarizerChoice = Literal["auto", "deepgram", "local", "pyannote", "channels"]
DIARIZER_CHOICES: tuple[DiarizerChoice, ...] = ("auto", "deepgram", "local", "pyannote", "channels")

T = TypeVar("T")


class Secret:
    """A credential: readable with :meth:`reveal`, shown as ``'***'`` everywhere else."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _env(name: str, default: T, parse: Callable[[str, str], T]) -> Any:
    return field(default=default, metadata={"env": name, "parse": parse})


def _float_in(low: float, high: float) -> Callable[[str, str], float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise InvalidConfig(name, f"must be a number, got {raw!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise InvalidConfig(name, f"must be between {low} and {high}, got {raw!r}")
        return value

    return parse


def _int_in(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise InvalidConfig(name, f"must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise InvalidConfig(name, f"must be between {low} and {high}, got {raw!r}")
        return value

    return parse


def _text(name: str, raw: str) -> str:
    return raw


def _optional_text(name: str, raw: str) -> str | None:
    return raw or None


def _secret(name: str, raw: str) -> Secret | None:
    return Secret(raw) if raw else None


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise InvalidConfig(name, f"must be true or false, got {raw!r}")


def _diarizer(name: str, raw: str) -> DiarizerChoice:
    if raw not in DIARIZER_CHOICES:
        raise InvalidConfig(name, f"must be one of {', '.join(DIARIZER_CHOICES)}, got {raw!r}")
    return raw  # mypy narrows it by the membership test above


def _app_id(name: str, raw: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", raw) is None:
        raise InvalidConfig(name, f"must be 1-64 ASCII letters, digits, '_' or '-', got {raw!r}")
    return raw


def _log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise InvalidConfig(name, f"must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level


def _http_url(name: str, raw: str) -> str:
    if not raw.startswith(("https://", "http://")) or len(raw) < 10:
        raise InvalidConfig(name, f"must be an http(s):// URL, got {raw[:80]!r}")
    return raw.rstrip("/")


def _optional_http_url(name: str, raw: str) -> str | None:
    return _http_url(name, raw) if raw else None


def _optional_origin(name: str, raw: str) -> str | None:
    """``scheme://host[:port]`` and nothing more: the origin a service is reached at."""
    if not raw:
        return None
    origin = raw.rstrip("/")
    if (
        re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?", origin)
        is None
    ):
        raise InvalidConfig(name, f"must be an origin such as https://diarflow.example.com[:port], got {raw[:80]!r}")
    return origin


@dataclass(frozen=True)
class Settings:
    """All of diarflow's settings; build with :meth:`from_env`."""

    store: str = _env("DIARFLOW_STORE", DEFAULT_STORE, _text)
    diarizer: DiarizerChoice = _env("DIARFLOW_DIARIZER", "auto", _diarizer)
    near_miss_margin: float = _env("DIARFLOW_NEAR_MISS_MARGIN", DEFAULT_NEAR_MISS_MARGIN, _float_in(0, 1))
    gap_tolerance: float = _env("DIARFLOW_GAP_TOLERANCE", DEFAULT_GAP_TOLERANCE, _float_in(0, 60))
    fallback_confidence: float = _env("DIARFLOW_FALLBACK_CONFIDENCE", DEFAULT_FALLBACK_CONFIDENCE, _float_in(0, 1))
    step_attempts: int = _env("DIARFLOW_STEP_ATTEMPTS", 3, _int_in(1, 20))
    """Local runner: attempts per step for retryable errors."""
    max_transcript_bytes: int = _env("DIARFLOW_MAX_TRANSCRIPT_BYTES", 512 * 1024 * 1024, _int_in(1, 2**40))
    # Reliability and security (docs/reliability.md).
    max_segments: int = _env("DIARFLOW_MAX_SEGMENTS", 500_000, _int_in(1, 100_000_000))
    """Diarizations with more turns are refused (a 24 h episode has about 100,000 at most)."""
    lease_seconds: float = _env("DIARFLOW_LEASE_SECONDS", 60.0, _float_in(1, 24 * 3600))
    """Local runs hold ``runs/<id>/lease.json`` this long, renewed every third of it while they run."""
    lease_wait: float = _env("DIARFLOW_LEASE_WAIT", 0.0, _float_in(0, 7 * 24 * 3600))
    """Seconds a run waits for another run of the same episode to finish; 0: stop at once (EpisodeBusy)."""
    allow_private_urls: bool = _env("DIARFLOW_ALLOW_PRIVATE_URLS", False, _bool)
    """Let diarflow fetch audio from loopback, link-local and private addresses (refused by default: SSRF)."""
    allow_file_urls: bool = _env("DIARFLOW_ALLOW_FILE_URLS", False, _bool)
    """Accept local paths and file: URLs as audio_url in events; local runs (diarflow run) always may."""
    log_level: str = _env("DIARFLOW_LOG_LEVEL", "WARNING", _log_level)
    audit_clips: bool = _env("DIARFLOW_AUDIT_CLIPS", False, _bool)
    # Speaker identification against the podcast's voiceprints (docs/identification.md).
    match_threshold: float = _env("DIARFLOW_MATCH_THRESHOLD", DEFAULT_MATCH_THRESHOLD, _float_in(0, 1))
    """CAM++ cosine a voiceprint needs to be a candidate for a cluster (calibrated on meeting speech)."""
    short_enrolment_threshold: float = _env(
        "DIARFLOW_SHORT_ENROLMENT_THRESHOLD", DEFAULT_SHORT_ENROLMENT_THRESHOLD, _float_in(0, 1)
    )
    """What a voiceprint enrolled from under ``SHORT_ENROLMENT_SECONDS`` (6 s) of speech heard needs instead (never
    less than the threshold; chosen by benchmarks/calibrate_identification.py: the threshold itself)."""
    match_margin: float = _env("DIARFLOW_MATCH_MARGIN", DEFAULT_MATCH_MARGIN, _float_in(0.001, 1))
    """How far a match must beat the next explanation: another person, another cluster, or nobody."""
    pyannote_match_threshold: float = _env(
        "DIARFLOW_PYANNOTE_MATCH_THRESHOLD", DEFAULT_PYANNOTE_MATCH_THRESHOLD, _float_in(0, 1)
    )
    """pyannoteAI identification confidence (0-100, scaled to [0, 1]) a voiceprint needs."""
    # Remote APIs (pyannoteAI, Deepgram): keys as Secret, so they never show in repr or logs.
    pyannote_api_key: Secret | None = _env("PYANNOTEAI_API_KEY", None, _secret)
    pyannote_api_url: str = _env("PYANNOTEAI_API_URL", "https://api.pyannote.ai", _http_url)
    pyannote_webhook_secret: Secret | None = _env("PYANNOTEAI_WEBHOOK_SECRET", None, _secret)
    pyannote_model: str = _env("PYANNOTEAI_MODEL", "precision-2", _text)
    pyannote_timeout: float = _env("PYANNOTEAI_TIMEOUT", 30.0, _float_in(0.01, 3600))
    """Seconds to wait for each pyannoteAI answer (uploads get ten times as long)."""
    pyannote_poll_interval: float = _env("PYANNOTEAI_POLL_INTERVAL", 10.0, _float_in(0.001, 3600))
    """First wait between job polls; it grows 1.5x per poll up to 5 minutes."""
    pyannote_max_wait: float = _env("PYANNOTEAI_MAX_WAIT", 4 * 3600.0, _float_in(0.01, 7 * 24 * 3600))
    """Give up on a job (and fall back) after this many seconds of waiting."""
    public_url: str | None = _env("DIARFLOW_PUBLIC_URL", None, _optional_http_url)
    """Where pyannoteAI can reach this service; set, jobs carry the webhook {url}/webhooks/pyannote."""
    deepgram_api_key: Secret | None = _env("DEEPGRAM_API_KEY", None, _secret)
    deepgram_api_url: str = _env("DEEPGRAM_API_URL", "https://api.deepgram.com", _http_url)
    deepgram_timeout: float = _env("DEEPGRAM_TIMEOUT", 600.0, _float_in(0.01, 24 * 3600))
    """Seconds to wait for a transcript: Deepgram answers once the whole file is done."""
    http_attempts: int = _env("DIARFLOW_HTTP_ATTEMPTS", 5, _int_in(1, 20))
    """Tries per remote API request (connection errors, 429, 5xx), the first included."""
    http_backoff: float = _env("DIARFLOW_HTTP_BACKOFF", 0.5, _float_in(0, 60))
    """Base of the exponential backoff between those tries, in seconds (jittered)."""
    # Inngest functions (``diarflow serve``); the SDK reads the INNGEST_* variables itself.
    app_id: str = _env("DIARFLOW_APP_ID", "diarflow", _app_id)
    """Inngest app id; function ids are ``<app_id>-transcribe-episode`` and ``<app_id>-diarize-episode``."""
    concurrency_per_podcast: int = _env("DIARFLOW_CONCURRENCY_PER_PODCAST", 4, _int_in(1, 10_000))
    """Runs of each function at once for one podcast (key ``event.data.podcast_id``)."""
    throttle_per_minute: int = _env("DIARFLOW_THROTTLE_PER_MINUTE", 20, _int_in(0, 10_000))
    """diarize-episode starts per minute while pyannoteAI may be called (about 4 API requests a run
    against its 100/minute limit); 0 disables the throttle."""
    function_retries: int = _env("DIARFLOW_FUNCTION_RETRIES", 4, _int_in(0, 20))
    """Inngest retries per step after the first attempt (Inngest's default is 4)."""
    serve_origin: str | None = _env("INNGEST_SERVE_ORIGIN", None, _optional_origin)
    """Where Inngest reaches ``diarflow serve`` (``https://host[:port]``): the URL registered on sync is this
    origin + the serve path, never the request's Host header. Dev mode defaults to the listening socket."""
    step_threads: int = _env("INNGEST_THREAD_POOL_MAX_WORKERS", 0, _int_in(0, 1024))
    """Steps run at once in one ``diarflow serve`` process; 0: as many as CPUs + 4 (at most 32)."""

    def __post_init__(self) -> None:
        _diarizer("diarizer", self.diarizer)  # a Literal is not checked at runtime, and replace() skips from_env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``); ``overrides`` win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = spec.metadata["env"]
            if spec.name in overrides and overrides[spec.name] is not None:
                value = overrides[spec.name]
                # A string override (a CLI option, an API argument) is checked as the variable would be.
                values[spec.name] = spec.metadata["parse"](spec.name, value) if isinstance(value, str) else value
            elif environ.get(name) not in (None, ""):
                values[spec.name] = spec.metadata["parse"](name, environ[name])
        return cls(**values)

    @classmethod
    def documented(cls) -> list[tuple[str, str]]:
        """(variable, default) for every setting, for the README and ``diarflow config``."""
        return [(spec.metadata["env"], repr(spec.default)) for spec in fields(cls)]

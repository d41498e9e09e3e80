"""``GET /healthz``: is this replica able to run the functions?

200 when the store answers, 503 when it does not (a load balancer should stop
sending work). The body says what was checked and warns about settings that
will fail later; it carries no secret, only whether each one is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diarflow.adapters.stores import ObjectStore
from diarflow.config import Settings
from diarflow.errors import DiarflowError
from diarflow.orchestration.diarizers import resolve_diarizer
from diarflow.redaction import redact

PROBE_KEY = "healthz/probe"
"""Looked up (HEAD), never written: a read-only check that the store answers with our credentials."""


@dataclass(frozen=True)
class InngestInfo:
    """What the service knows about its Inngest configuration (no secret values)."""

    mode: str
    """``dev`` or ``cloud`` (Inngest Cloud or a self-hosted ``inngest start``)."""
    api_origin: str
    has_signing_key: bool
    has_event_key: bool
    functions: tuple[str, ...]


def health_report(settings: Settings, store: ObjectStore, inngest: InngestInfo) -> tuple[int, dict[str, Any]]:
    """The status code and body of ``/healthz``."""
    store_check: dict[str, Any] = {"url": store.url, "reachable": True}
    try:
        store.exists(PROBE_KEY)
    except DiarflowError as exc:
        store_check.update(reachable=False, error=exc.type_name, message=redact(exc.message)[:300])
    except Exception as exc:  # an unmapped client error still means "not usable"
        store_check.update(reachable=False, error=type(exc).__name__, message=redact(str(exc))[:300])

    diarizer = resolve_diarizer(settings.diarizer, settings)
    body: dict[str, Any] = {
        "status": "ok" if store_check["reachable"] else "unavailable",
        "app_id": settings.app_id,
        "store": store_check,
        "inngest": {
            "mode": inngest.mode,
            "api_origin": inngest.api_origin,
            "signing_key": inngest.has_signing_key,
            "event_key": inngest.has_event_key,
            "functions": list(inngest.functions),
        },
        "config": {
            "diarizer": diarizer,
            "concurrency_per_podcast": settings.concurrency_per_podcast,
            "throttle_per_minute": settings.throttle_per_minute if diarizer == "pyannote" else 0,
            "function_retries": settings.function_retries,
            "pyannote_webhook": settings.pyannote_webhook_secret is not None,
        },
        "warnings": _warnings(settings, inngest, diarizer),
    }
    return (200 if store_check["reachable"] else 503), body


def _warnings(settings: Settings, inngest: InngestInfo, diarizer: str) -> list[str]:
    """Settings that let the service start but will make some runs fail or degrade."""
    warnings = []
    if diarizer == "pyannote" and settings.pyannote_api_key is None:
        warnings.append("DIARFLOW_DIARIZER=pyannote but PYANNOTEAI_API_KEY is not set: every run will fall back")
    if settings.public_url and settings.pyannote_webhook_secret is None:
        warnings.append(
            "DIARFLOW_PUBLIC_URL is set but PYANNOTEAI_WEBHOOK_SECRET is not: webhooks will be refused (503)"
        )
    if inngest.mode == "cloud" and not inngest.has_event_key:
        warnings.append(
            "INNGEST_EVENT_KEY is not set: runs cannot emit their completion events and webhooks cannot be forwarded"
        )
    return warnings

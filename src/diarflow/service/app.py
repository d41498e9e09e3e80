"""The FastAPI app behind ``diarflow serve``.

Routes:

``GET|PUT|POST /api/inngest``
    the Inngest serve endpoint (``inngest.fast_api.serve``): registration on
    PUT, one step per POST from the executor. Requests are signature-checked
    unless the app runs against a dev server.
``GET /healthz``
    store reachable, configuration sane (:mod:`diarflow.service.health`).
``POST /webhooks/pyannote``
    pyannoteAI job notifications, verified, forwarded as ``pyannote/job.completed``.

Every replica is stateless: run state lives in Inngest, artifacts in the
store. Scale out by running more replicas behind one URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import inngest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from diarflow.adapters.pyannote import handle_webhook
from diarflow.adapters.stores import ObjectStore, open_store
from diarflow.config import Settings
from diarflow.errors import ClientGone, InvalidConfig, RequestRejected
from diarflow.orchestration.pyannote_flow import WEBHOOK_PATH
from diarflow.service.bodies import receive_body, refusal
from diarflow.service.functions import build_functions
from diarflow.service.guards import MAX_REQUEST_BYTES, BodySizeLimit
from diarflow.service.health import InngestInfo, health_report
from diarflow.service.inngest_endpoint import InngestEndpoint

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
WEBHOOK_BODY_LIMIT = 1024 * 1024
"""pyannoteAI sends status-only notifications (we ask for them): anything near this size is not one."""


@dataclass(frozen=True)
class ServiceState:
    """What the routes share; one per app (and so per worker process)."""

    settings: Settings
    store: ObjectStore
    client: inngest.Inngest
    functions: tuple[inngest.Function[Any], ...]

    @property
    def inngest_info(self) -> InngestInfo:
        return InngestInfo(
            mode="cloud" if self.client.is_production else "dev",
            api_origin=self.client.api_origin,
            has_signing_key=bool(self.client.signing_key),
            has_event_key=bool(self.client.event_key),
            functions=tuple(fn.id for fn in self.functions),
        )


def create_app(settings: Settings | None = None, *, store: ObjectStore | None = None) -> FastAPI:
    """Build the service from ``settings`` (default: the environment); raises InvalidConfig on bad settings."""
    settings = settings or Settings.from_env()
    store = store or open_store(settings.store)
    client = inngest.Inngest(app_id=settings.app_id, logger=logging.getLogger("diarflow.inngest"))
    if client.is_production and not client.signing_key:
        raise InvalidConfig(
            "INNGEST_SIGNING_KEY",
            "is required when serving Inngest Cloud or a self-hosted server (requests are signed): "
            "set it, or set INNGEST_DEV=1 to work with the dev server",
        )
    functions = build_functions(client, settings, store)
    state = ServiceState(settings=settings, store=store, client=client, functions=tuple(functions))

    # No interactive docs: this app is called by machines (Inngest, pyannoteAI, probes).
    app = FastAPI(title="diarflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.diarflow = state
    # The route (and the URL registered with Inngest) is /api/inngest unless INNGEST_SERVE_PATH says otherwise.
    InngestEndpoint(
        client,
        functions,
        body_limit=MAX_REQUEST_BYTES,
        serve_origin=settings.serve_origin,
        threads=settings.step_threads,
    ).mount(app)
    # Bodies over 64 MiB are refused from their Content-Length before any route (docs/reliability.md).
    app.add_middleware(BodySizeLimit, limit=MAX_REQUEST_BYTES)

    @app.get(HEALTH_PATH)
    def healthz() -> JSONResponse:
        # A plain function: FastAPI runs it in its thread pool, so a slow store does not block the loop.
        status, body = health_report(state.settings, state.store, state.inngest_info)
        return JSONResponse(body, status_code=status)

    @app.post(WEBHOOK_PATH)
    async def pyannote_webhook(request: Request) -> Response:
        try:
            async with receive_body(request, WEBHOOK_BODY_LIMIT) as received:
                body = received.read()
        except RequestRejected as refused:
            return refusal(refused)
        except ClientGone as gone:
            log.info("POST %s: %s", WEBHOOK_PATH, gone)
            return Response(status_code=400)
        secret = settings.pyannote_webhook_secret
        # No replay guard here: one that marks a delivery before the event is sent would swallow
        # pyannoteAI's redelivery after a failed send. The event's deterministic id lets Inngest
        # drop the duplicates instead.
        result = handle_webhook(dict(request.headers), body, secret=secret.reveal() if secret else "")
        if result.event is not None:
            event = inngest.Event(name=result.event["name"], data=result.event["data"], id=result.event["id"])
            try:
                await client.send(event)
            except Exception as exc:  # the event API is down or refuses us: let pyannoteAI deliver again
                log.error("could not forward pyannoteAI webhook to Inngest: %s", type(exc).__name__)
                return JSONResponse({"error": "could not forward the notification; retry later"}, status_code=503)
        return JSONResponse(result.body, status_code=result.status)

    return app

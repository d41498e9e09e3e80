"""The Inngest engine: :class:`~diarflow.orchestration.steps.Steps` over ``ctx.step`` (sync SDK).

The pipeline is written once against ``Steps``; this adapter lets Inngest
drive it. Inngest calls the function once per step and replays it with the
memoised results of earlier steps, so the adapter only translates:

* a step body's outcome into what the executor understands, and
* a step that failed for good (``inngest.StepError`` raised by ``ctx.step``
  when the memoised step holds an error) into :class:`~diarflow.errors.StepFailed`,
  which the pipeline catches to record the error and fall back.

How a failure inside a step body reaches the executor:

* retryable diarflow errors (``StorageUnavailable``, ``RemoteServiceUnavailable``, …)
  are reported as retriable step errors: Inngest retries the step with
  backoff (or at the time a ``Retry-After`` names) until the function's
  retries are used up, then hands the error back to the function;
* everything else is reported as a *non-retriable step error*: the 206
  response carries ``X-Inngest-No-Retry: true`` and Inngest fails the step at
  once, so the pipeline's fallback runs without burning retries.

``inngest.NonRetriableError`` itself is not raised from step bodies: SDK 0.5
re-raises it at function level (it would fail the whole run and skip the
fallback). Function-level problems that no retry can fix, such as a malformed
trigger event, do raise it (see :func:`non_retriable`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import inngest
import orjson

from diarflow.errors import MAX_ERROR_MESSAGE, DiarflowError, StepFailed, classify
from diarflow.orchestration.steps import ArgsT, Event, JSONObject, ResultT, Step
from diarflow.orchestration.workspace import Workspace
from diarflow.redaction import redact

log = logging.getLogger(__name__)

MAX_STEP_OUTPUT_BYTES = 64 * 1024
"""A step that returns more than this is a bug (S3-first: steps return keys and counts).

Inngest rejects step outputs over 4 MiB and runs over 32 MiB of state; failing
far below that names the offending step instead of failing a long episode late.
"""


class StepAttemptFailed(inngest.StepError):
    """Raised inside a step body: the diarflow error's type name and redacted message, as Inngest records them.

    ``inngest.StepError`` is the SDK's error type that carries a name of our
    choosing to the executor; ``is_retriable`` decides whether the executor
    retries the step or fails it at once.
    """

    def __init__(self, error_type: str, message: str, *, retryable: bool) -> None:
        super().__init__(message=message, name=error_type, stack=None)
        self.is_retriable = retryable


class InngestSteps:
    """Durable steps on Inngest for one function invocation.

    ``attempt`` is the executor's 0-based attempt of the current request and
    ``max_attempts`` the function's retries + 1: together they tell whether a
    rate-limited step may be postponed with ``Retry-After`` or must fail now.
    """

    def __init__(self, step: inngest.StepSync, *, attempt: int = 0, max_attempts: int = 5) -> None:
        self._step = step
        self._attempt = attempt
        self._max_attempts = max(1, max_attempts)

    def run(self, step: Step[ArgsT, ResultT], ws: Workspace, args: ArgsT) -> ResultT:
        # The body gets the arguments as JSON and validates them again, as it would in another process.
        body = _guarded(step.name, partial(_execute, step, ws), self._attempt, self._max_attempts)
        try:
            output = self._step.run(step.name, body, args.model_dump(mode="json"))
        except inngest.StepError as exc:
            raise self._failure(step.name, exc) from None
        return step.read_result(output)

    def sleep(self, name: str, seconds: float) -> None:
        self._step.sleep(name, timedelta(seconds=max(0.0, seconds)))

    def send_event(self, name: str, events: list[Event]) -> None:
        payload = [
            inngest.Event(name=event["name"], data=event.get("data") or {}, id=event.get("id") or "")
            for event in events
        ]
        try:
            self._step.send_event(name, payload)
        except inngest.StepError as exc:
            raise self._failure(name, exc) from None

    def wait_for_event(self, name: str, *, event: str, if_expression: str, timeout_seconds: float) -> Event | None:
        received = self._step.wait_for_event(
            name, event=event, if_exp=if_expression, timeout=timedelta(seconds=max(1.0, timeout_seconds))
        )
        if received is None:
            return None
        result: Event = received.model_dump(mode="json")
        return result

    def _failure(self, name: str, error: inngest.StepError) -> StepFailed:
        """The memoised error of a step that failed for good, as the pipeline expects it."""
        retryable = classify(error.name).retryable
        return StepFailed(
            name,
            error.name,
            redact(error.message)[:MAX_ERROR_MESSAGE],
            retryable=retryable,
            # A retryable error reached us only after every attempt failed; anything else failed at once.
            attempt=self._max_attempts if retryable else 1,
        )


def _execute(step: Step[ArgsT, ResultT], ws: Workspace, serialised_args: JSONObject) -> JSONObject:
    """A step body as Inngest runs it: JSON arguments in, the result as JSON (exactly what is memoised) out."""
    return step.call(ws, serialised_args).to_json_dict()


def _guarded(name: str, fn: Callable[..., JSONObject], attempt: int, max_attempts: int) -> Callable[..., JSONObject]:
    """Wrap a step body so its failures carry diarflow's vocabulary and retry decision to Inngest."""

    def body(*args: object) -> JSONObject:
        try:
            result = fn(*args)
        except DiarflowError as exc:
            retry_after = getattr(exc, "retry_after", None)
            retryable = classify(exc).retryable
            if retryable and isinstance(retry_after, int | float) and attempt + 1 < max_attempts:
                # The API told us when to come back (e.g. a 429): let the executor wait that long.
                raise inngest.RetryAfterError(
                    f"{exc.type_name}: {redact(exc.message)[:MAX_ERROR_MESSAGE]}",
                    timedelta(seconds=max(1.0, float(retry_after))),
                ) from None
            raise StepAttemptFailed(
                exc.type_name, redact(exc.message)[:MAX_ERROR_MESSAGE], retryable=retryable
            ) from None
        except Exception as exc:  # a bug or an unmapped dependency error: record it, as the local runner does
            log.error("step %s raised an unexpected %s", name, type(exc).__name__, exc_info=True)
            raise StepAttemptFailed(type(exc).__name__, redact(str(exc))[:MAX_ERROR_MESSAGE], retryable=False) from None
        _check_size(name, result)
        return result

    return body


def _check_size(name: str, result: JSONObject) -> None:
    try:
        size = len(orjson.dumps(result))
    except TypeError as exc:
        raise StepAttemptFailed(
            "InvalidStepOutput", f"step {name} returned non-JSON data: {exc}", retryable=False
        ) from None
    if size > MAX_STEP_OUTPUT_BYTES:
        raise StepAttemptFailed(
            "StepOutputTooLarge",
            f"step {name} returned {size:,} bytes (limit {MAX_STEP_OUTPUT_BYTES:,}): "
            "large data belongs in the store, with only its key in the result",
            retryable=False,
        )


def non_retriable(error: DiarflowError) -> inngest.NonRetriableError:
    """A function-level error no retry can fix (a malformed event, a bad configuration)."""
    return inngest.NonRetriableError(f"{error.type_name}: {redact(error.message)[:MAX_ERROR_MESSAGE]}")

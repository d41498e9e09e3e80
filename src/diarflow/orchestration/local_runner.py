"""The local engine: runs steps in-process and checkpoints their results in the store.

A checkpoint ``runs/<episode_id>/<step>.json`` holds the step's small result,
a fingerprint of its name and serialised arguments, and the store versions of
the objects its result model declares (``key_fields``, ``prefix_fields``). On
a rerun a step whose fingerprint matches and whose declared objects are
unchanged is skipped; a changed input (its digest is an argument) reruns it
and everything downstream. Failed steps leave no checkpoint, so a rerun
retries exactly what failed; nor do degraded ones (a result that says what it
survived, :meth:`~diarflow.contracts.results.StepResult.degraded_by`), so a
rerun redoes them once the cause is gone.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Protocol, TypeVar

import orjson
from pydantic import ValidationError

from diarflow.adapters.stores import ObjectStore, get_json, put_json
from diarflow.contracts import keys, utc_now
from diarflow.contracts.results import EventsSent, StepResult
from diarflow.errors import DiarflowError, StepFailed, classify
from diarflow.orchestration.steps import ArgsT, Event, JSONObject, ResultT, Step
from diarflow.orchestration.workspace import Workspace, digest
from diarflow.redaction import redact

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 2
"""2: arguments are fingerprinted as their models serialise them (checkpoints of version 1 are recomputed once)."""

OutcomeT = TypeVar("OutcomeT")


class StepObserver(Protocol):
    """Receives step progress (the CLI shows it on stderr)."""

    def step_started(self, name: str) -> None: ...

    def step_finished(self, name: str, seconds: float, *, skipped: bool) -> None: ...

    def step_failed(self, name: str, error: StepFailed) -> None: ...

    def sleeping(self, name: str, seconds: float) -> None: ...


class _SilentObserver:
    def step_started(self, name: str) -> None:
        pass

    def step_finished(self, name: str, seconds: float, *, skipped: bool) -> None:
        pass

    def step_failed(self, name: str, error: StepFailed) -> None:
        pass

    def sleeping(self, name: str, seconds: float) -> None:
        pass


def fingerprint(name: str, serialised_args: JSONObject) -> str:
    """What identifies one execution of a step: its name and its arguments as JSON."""
    payload = orjson.dumps([CHECKPOINT_VERSION, name, serialised_args], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


class LocalRunner:
    """:class:`~diarflow.orchestration.steps.Steps` for one episode on this machine."""

    def __init__(
        self,
        store: ObjectStore,
        episode_id: str,
        *,
        force: bool = False,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        event_sink: Callable[[list[Event]], None] | None = None,
        observer: StepObserver | None = None,
    ) -> None:
        keys.checkpoints_prefix(episode_id)  # validate before any I/O
        self.store = store
        self.episode_id = episode_id
        self.force = force
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self.event_sink = event_sink or _log_events
        self.observer: StepObserver = observer or _SilentObserver()
        self.executed: list[str] = []
        """Steps whose body ran in this process (tests count them)."""
        self.skipped: list[str] = []
        """Steps answered from a checkpoint."""

    def run(self, step: Step[ArgsT, ResultT], ws: Workspace, args: ArgsT) -> ResultT:
        return self._run(step.name, args.model_dump(mode="json"), step.result, partial(step.call, ws))

    def _run(
        self, name: str, serialised_args: JSONObject, result_model: type[ResultT], body: Callable[[JSONObject], ResultT]
    ) -> ResultT:
        key = keys.checkpoint_key(self.episode_id, name)
        expected = fingerprint(name, serialised_args)
        if not self.force:
            cached = self._checkpoint(key, expected, result_model)
            if cached is not None:
                self.skipped.append(name)
                self.observer.step_finished(name, 0.0, skipped=True)
                return cached

        self.observer.step_started(name)
        began = time.perf_counter()
        result = self._attempt(name, body, serialised_args)
        if result.degraded_by() is not None:
            # A degraded result (e.g. the voiceprint registry was down) is not done work: keep no
            # checkpoint, so the next run does this step again and everything after it.
            self._forget(key)
            self.executed.append(name)
            self.observer.step_finished(name, time.perf_counter() - began, skipped=False)
            return result
        try:
            record = {
                "step": name,
                "fingerprint": expected,
                "finished_at": utc_now(),
                "result": result.to_json_dict(),
                "versions": self._versions(result),
            }
            put_json(self.store, key, record)
        except DiarflowError as exc:
            failure = StepFailed(name, exc.type_name, exc.message, retryable=classify(exc).retryable, attempt=1)
            self.observer.step_failed(name, failure)
            raise failure from None
        self.executed.append(name)
        self.observer.step_finished(name, time.perf_counter() - began, skipped=False)
        return result

    def sleep(self, name: str, seconds: float) -> None:
        self.observer.sleeping(name, seconds)
        time.sleep(max(0.0, seconds))

    def send_event(self, name: str, events: list[Event]) -> None:
        def send(serialised: JSONObject) -> EventsSent:
            self.event_sink(serialised["events"])
            return EventsSent(sent=len(serialised["events"]))

        self._run(name, {"events": events}, EventsSent, send)

    def wait_for_event(self, name: str, *, event: str, if_expression: str, timeout_seconds: float) -> Event | None:
        raise NotImplementedError("the local runner cannot be woken by events; poll instead")

    def _attempt(self, name: str, body: Callable[[JSONObject], OutcomeT], serialised_args: JSONObject) -> OutcomeT:
        for attempt in range(1, self.attempts + 1):
            try:
                return body(serialised_args)
            except DiarflowError as exc:
                retryable = classify(exc).retryable
                if retryable and attempt < self.attempts:
                    # A rate-limited API says how long to wait; never retry sooner than that.
                    delay = max(self.backoff_seconds * 2 ** (attempt - 1), getattr(exc, "retry_after", None) or 0.0)
                    log.warning(
                        "step %s: %s (attempt %d of %d); retrying in %.1f s",
                        name,
                        exc.type_name,
                        attempt,
                        self.attempts,
                        delay,
                    )
                    time.sleep(delay)
                    continue
                failure = StepFailed(name, exc.type_name, exc.message, retryable=retryable, attempt=attempt)
            except Exception as exc:  # a bug or an unmapped dependency error: record it, never lose it
                log.error(
                    "step %s raised an unexpected %s",
                    name,
                    type(exc).__name__,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                failure = StepFailed(name, type(exc).__name__, redact(str(exc)), retryable=False, attempt=attempt)
            self.observer.step_failed(name, failure)
            raise failure
        raise AssertionError("unreachable: the loop returns or raises")

    def _forget(self, key: str) -> None:
        try:
            self.store.delete(key)
        except DiarflowError as exc:  # a stale checkpoint is also caught by its artifact versions
            log.warning("could not remove checkpoint %s: %s", key, exc.message)

    def _versions(self, result: StepResult) -> dict[str, str | None]:
        """The store versions of what the result's model declares it depends on."""
        versions = {key: self.store.version(key) for key in result.store_keys()}
        for prefix in result.store_prefixes():  # e.g. the voiceprint registry a step consulted
            listing = [(key, self.store.version(key)) for key in self.store.list(prefix)]
            versions[prefix] = digest(orjson.dumps(listing))
        return versions

    def _checkpoint(self, key: str, expected: str, result_model: type[ResultT]) -> ResultT | None:
        try:
            if not self.store.exists(key):
                return None
            record = get_json(self.store, key)
        except DiarflowError as exc:
            log.warning("ignoring unreadable checkpoint %s: %s", key, exc.message)
            return None
        if not (isinstance(record, dict) and record.get("fingerprint") == expected):
            return None
        try:
            result = result_model.model_validate(record.get("result"))
        except ValidationError:  # written by another version, or by hand: the step runs again
            log.warning("ignoring checkpoint %s: its result is not a %s", key, result_model.__name__)
            return None
        # An input or artifact changed or removed since (by hand, another run) means the step must run again.
        try:
            current = self._versions(result)
        except DiarflowError as exc:  # cannot tell whether its inputs changed: run the step again
            log.warning("checkpoint %s not reused: %s", key, exc.message)
            return None
        if record.get("versions") != current:
            return None
        return result


def _log_events(events: list[Event]) -> None:
    for event in events:
        log.info("event %s for episode %s", event.get("name"), event.get("data", {}).get("episode_id"))

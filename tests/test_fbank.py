"""Kaldi-compatible fbank (adapters/models/fbank.py) against kaldi-native-fbank, and block-at-a-time streaming."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from diarflow.adapters.models.fbank import FbankStream, fbank, num_frames, subtract_mean
from tests.model_references import TOLERANCE, kaldi_native_fbank
from tests.recut import read_sample_audio


@pytest.fixture(scope="module")
def sample() -> NDArray[np.float32]:
    return read_sample_audio()


def test_fbank_matches_kaldi_native_fbank(sample: NDArray[np.float32]) -> None:
    """Within 1e-4 wherever float32 arithmetic can resolve the value.

    kaldi-native-fbank works in float32: a bin far below its frame's loudest
    (more than 10 nats, 43 dB) carries rounding from the FFT of the loud
    bins, and there two float32 implementations disagree by up to ~5e-4 in the
    log; ours works in float64.
    """
    rng = np.random.default_rng(15)
    signals = [sample, rng.uniform(-1, 1, 48_000).astype(np.float32), sample[: 16_000 * 3] * np.float32(0.01)]
    for signal in signals:
        ours, theirs = fbank(signal), kaldi_native_fbank(signal)
        assert ours.shape == theirs.shape == (num_frames(len(signal)), 80)
        resolvable = theirs > theirs.max(axis=1, keepdims=True) - 10
        assert resolvable.mean() > 0.75  # the sample is telephone speech: little energy under 300 Hz or over 3.4 kHz
        assert float(np.abs(ours - theirs)[resolvable].max()) <= TOLERANCE
        assert float(np.abs(ours - theirs).max()) <= 1e-3


def test_fbank_frames_and_edges() -> None:
    assert [num_frames(n) for n in (0, 399, 400, 559, 560, 160_000)] == [0, 0, 1, 1, 2, 998]
    assert fbank(np.zeros(399, dtype=np.float32)).shape == (0, 80)
    silence = fbank(np.zeros(1000, dtype=np.float32))
    np.testing.assert_allclose(silence, np.log(np.finfo(np.float32).eps))
    centred = subtract_mean(fbank(np.random.default_rng(1).standard_normal(8000).astype(np.float32) * 0.1))
    np.testing.assert_allclose(centred.mean(axis=0), 0.0, atol=1e-5)


def test_fbank_stream_gives_the_frames_of_the_whole(sample: NDArray[np.float32]) -> None:
    whole = fbank(sample)
    stream = FbankStream()
    rng = np.random.default_rng(5)
    cuts = np.sort(rng.integers(0, len(sample), 12))
    parts = [stream.accept(block) for block in np.split(sample, cuts)]
    parts.append(stream.accept(np.zeros(0, dtype=np.float32)))
    assert stream.frames_done == len(whole)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)

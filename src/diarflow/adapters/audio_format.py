"""The sample rate every audio path decodes to and every local model was trained at.

One definition, because a decoder and a model that disagree would not fail:
they would silently misplace every time stamp by the ratio of the two rates.
"""

from __future__ import annotations

SAMPLE_RATE = 16_000
"""Samples per second of mono float32 audio inside diarflow (16 kHz)."""

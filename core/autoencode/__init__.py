"""The Autoencoder lab: training small convolutional autoencoders and comparing them fairly.

- ``gray``: training a learned decolorization and comparing it with the 601/709/mean luma rules.
- ``single``: the single noisy image experiment with four regimes (plain, augmented, prefiltered,
  blind-spot) and its metrics.
- ``train``: the seeded, stoppable training loop both share.
- ``cli``: ``python -m core autoencode gray|single``.

The lab sits above ``core.preprocess`` and ``core.evaluate`` (it builds variants and runs sweeps). What it
saves, and what the pipeline applies, is ``core.learned`` (architectures, the models folder, inference), a floor
below preprocess. Nothing here imports streamlit; training takes ``progress``/``should_stop`` callbacks
(``core.provenance``) and raises ``Stopped`` with nothing written.
"""

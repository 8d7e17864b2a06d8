"""Small convolutional autoencoders: a learned gray rule, a single-image denoising lab, learned denoisers.

- ``nets``: the architectures (a pointwise gray encoder, a color decoder, a single-image CAE), each
  rebuilt from the ``architecture`` dict its card records.
- ``store``: the models folder (``$PREPSCOPE_MODELS_DIR``, else ``$PREPSCOPE_HOME/models``, else
  ``~/.cache/prepscope/models``): a state_dict (``NAME.pt``, loaded with ``weights_only=True``) plus a
  JSON card (``NAME.json``) per model, written atomically and checked against each other when loaded.
- ``gray``: training a learned decolorization and comparing it fairly with the 601/709/mean luma rules.
- ``single``: the single noisy image experiment with four regimes (plain, augmented, prefiltered,
  blind-spot) and its metrics.
- ``denoise``: scikit-image denoisers and trained lab models applied to images (used by the pipeline).

Nothing here imports streamlit; training takes ``progress``/``should_stop`` callbacks
(``core.provenance``) and raises ``Stopped`` with nothing written.
"""

"""Saved lab models, applied as preprocessing: the floor under ``core.preprocess`` that reads the models folder.

- ``nets``: the architectures (a pointwise gray encoder, a color decoder, a single-image CAE), each
  rebuilt from the ``architecture`` dict its card records.
- ``store``: the models folder (``$PREPSCOPE_MODELS_DIR``, else ``$PREPSCOPE_HOME/models``, else
  ``~/.cache/prepscope/models``): a state_dict (``NAME.pt``, loaded with ``weights_only=True``) plus a
  JSON card (``NAME.json``) per model, written atomically and checked against each other when loaded;
  ``weights_digest`` is what cache keys record (``core.preprocess.recipe.cache_key``).
- ``inference``: a saved learned gray rule or lab denoiser run on an image (blind-spot prediction included).

Training them is the lab's business (``core.autoencode``, above preprocess and evaluate); nothing here imports
the lab, preprocess or evaluate, so the pipeline can use saved models without a circle. A card names its
architecture by class name, never by module path, so models saved before this package existed load unchanged.
"""

"""prepscope core engine: decoding, preprocessing variants, models, inspection and evaluation.

This package never imports streamlit, so the command line (`python -m core`) and the tests use it
directly.
"""

__version__ = "0.1.0"

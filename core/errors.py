"""Typed errors whose message is meant for the user, shown as-is in the page or on stderr."""


class PrepscopeError(Exception):
    """Base class: ``str(err)`` is a complete, actionable sentence for the user."""


class UnsupportedInput(PrepscopeError):
    """The input cannot be decoded: empty, truncated, not an image/sound, too large, unsupported."""


class InvalidVariant(PrepscopeError):
    """A variant specification is malformed or asks for a combination that cannot be computed."""


class InvalidDataset(PrepscopeError):
    """A dataset folder or archive is unusable (layout, limits, too few classes)."""


class UnknownModel(PrepscopeError):
    """The model name is not registered, or its weights cannot be loaded."""

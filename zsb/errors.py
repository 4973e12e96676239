"""User-facing errors.

A :class:`ZSBError` is a mistake in the user's input (a path, a name, a parameter, a file). Its message says
what was wrong, where, and what to do. The CLI prints it without a traceback and exits with status 2.
"""


class ZSBError(Exception):
    """A user error with an actionable message."""


class DataError(ZSBError):
    """A dataset root, layout, split or image that cannot be used."""


class ConfigError(ZSBError):
    """An unknown name or an ill-typed parameter value."""


class WeightsError(ZSBError):
    """A weights file or checkpoint that is missing, unsafe or for another model."""

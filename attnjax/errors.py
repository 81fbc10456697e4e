"""Errors the command line turns into one-line messages."""


class AttnjaxError(Exception):
    """Base class for user-facing errors: bad options, bad files, failed runs."""


class ConfigError(AttnjaxError, ValueError):
    """An option or argument is invalid (sizes, classes, names).

    Attributes:
        field: the argument at fault, by its library name (``"fg"``, ``"num_classes"``, ``"m"``),
            when the error knows it; the command maps it to its option.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class DataError(AttnjaxError, ValueError):
    """A data file is missing or malformed."""


class NonFiniteLossError(AttnjaxError, FloatingPointError):
    """Training produced a NaN or infinite loss."""

    # set where it is raised (attnjax.experiments.check_finite)
    seed: int
    epoch: int
    loss: str


class NonFiniteResultError(AttnjaxError, ValueError):
    """A result to be saved holds NaN or infinity; it is not written."""


class OutOfMemoryError(AttnjaxError, MemoryError):
    """Training does not fit in memory even in the smallest chunks."""

"""Errors the command line turns into one-line messages.

The library's messages name settings in words and by their library names (``batch_size``,
``data_dir``), never by command-line options: an error says which setting it is about in
``field`` (and, when its remedy is another setting, in ``remedy``), and the command line alone
maps these to its options (``attnjax.cli.FIELD_FLAGS``).
"""


class AttnjaxError(Exception):
    """Base class for user-facing errors: bad options, bad files, failed runs.

    Arguments:
        *args: the message (as for any exception).
        field: the setting at fault, by its library name (``"batch_size"``, ``"fg"``, ``"data_dir"``),
            when the error knows it; the command maps it to its option.
        remedy: the setting whose change the message suggests, when it is not ``field`` (``"overwrite"``
            for a checkpoint that cannot be resumed).

    Attributes:
        field: as given (None: the error is about no one setting).
        remedy: as given.
    """

    def __init__(self, *args, field: str | None = None, remedy: str | None = None):
        super().__init__(*args)
        self.field = field
        self.remedy = remedy


class ConfigError(AttnjaxError, ValueError):
    """An option or argument is invalid (sizes, classes, names).

    Attributes:
        field: the argument at fault, by its library name (``"fg"``, ``"num_classes"``, ``"m"``),
            when the error knows it; the command maps it to its option.
        remedy: the setting whose change the message suggests, when it is not ``field``.
    """


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

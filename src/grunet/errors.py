"""Exceptions raised at grunet's boundaries. Each message says what was wrong and what to do."""


class GrunetError(Exception):
    """Base class of grunet's own errors; the CLI prints these as one line."""


class DataError(GrunetError, ValueError):
    """Input data is unusable: wrong shape, NaN/inf, non-numeric, empty, too short."""


class ModelFileError(GrunetError, ValueError):
    """A model file is missing, truncated, corrupt, or not a grunet model."""


class NotCompiledError(GrunetError, RuntimeError):
    """fit/evaluate called before compile."""


class OptionError(GrunetError, ValueError):
    """An argument or option has a value grunet cannot use (unknown name, out of range)."""


class NotBuiltError(GrunetError, RuntimeError):
    """The model has no weights yet: it needs an input shape first."""


class MissingDependencyError(GrunetError, ImportError):
    """An optional package the request needs is not installed; the message names the pip command."""


class SetupError(GrunetError, RuntimeError):
    """The environment cannot run the request as set up (e.g. distributed without torchrun)."""

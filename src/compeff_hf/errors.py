"""Errors the user can act on. The CLI prints them without a traceback."""


class CompEffError(Exception):
    """Base class: the message says what went wrong, where (file, row, field) and what to do."""


class RecipeError(CompEffError):
    """A recipe (YAML) or a command-line flag is invalid."""


class DataError(CompEffError):
    """An input dataset is missing, malformed or lacks a column."""


class ModelError(CompEffError):
    """A model reference cannot be resolved or loaded."""


class EndpointError(CompEffError):
    """An LLM endpoint is unreachable or fails too often."""


class StageNotBuiltError(CompEffError):
    """The stage exists in the CLI but its implementation has not landed yet."""


class ParseError(CompEffError):
    """An LLM output could not be parsed; the row is kept aside with this reason, never dropped silently."""

"""The one error type of the specs layer.

Messages say what was wrong and, where it helps, what is allowed; callers (the dock, the CLI)
render them as they are.
"""


class SpecError(ValueError):
    """A specification (semantic or statistical) or its input data is invalid."""

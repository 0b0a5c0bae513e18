"""The error types of the specs layer.

Messages say what was wrong and, where it helps, what is allowed; callers (the dock, the CLI)
render them as they are.
"""


class SpecError(ValueError):
    """A specification (semantic or statistical) or its input data is invalid."""


class MissingExtraError(SpecError):
    """A feature needs an optional part of lwdock that is not installed (torch for image specs,
    torch + the offline sentence model for text specs). `extra` names the pip extra that adds it;
    the message is one line the CLI prints as it is."""

    def __init__(self, what: str, extra: str, missing: str):
        self.what, self.extra, self.missing = what, extra, missing
        super().__init__(f"{what} need the '{extra}' extra ({missing} is not installed): "
                         f"pip install 'lwdock[{extra}]'")

    def __reduce__(self):  # survives pickling (process pools) with its fields, not just its message
        return type(self), (self.what, self.extra, self.missing)


class SmallTableError(SpecError):
    """A table has fewer rows than a private spec needs (specs/privacy.py MIN_ROWS) and the caller
    did not pass allow_small: refused rather than publishing points that stand for one or two rows."""

"""`learnware.model`: the base class a learnware's model derives from."""

from .base import BaseModel

__all__ = ["BaseModel"]

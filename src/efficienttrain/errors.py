"""Errors a user can cause and fix: the command line prints them as one line and exits with 2."""

from __future__ import annotations

__all__ = ["UserError", "BadImageError"]


class UserError(ValueError):
    """A problem with the user's input (paths, configs, sizes, names) that they can fix.

    The message names the problem and the fix. It subclasses :class:`ValueError` so that
    library callers can catch it like any invalid argument.
    """


class BadImageError(UserError):
    """An image file that cannot be decoded (corrupt or truncated)."""

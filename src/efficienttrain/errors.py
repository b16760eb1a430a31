"""Errors a user can cause and fix: the command line prints them as one line and exits with 2."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["UserError", "BadImageError", "did_you_mean", "choice_error", "missing_file_error", "first_line"]


class UserError(ValueError):
    """A problem with the user's input (paths, configs, sizes, names) that they can fix.

    The message names the problem and the fix. It subclasses :class:`ValueError` so that
    library callers can catch it like any invalid argument.
    """


class BadImageError(UserError):
    """An image file that cannot be decoded (corrupt or truncated)."""


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """The close matches of a misspelt name, as text to append to a message (empty when none is close).

    Args:
        given: What the user wrote.
        choices: The valid names.

    Returns:
        ``"; did you mean 'x'?"``, ``"; did you mean 'x' or 'y'?"`` or ``""``.
    """
    close = difflib.get_close_matches(str(given), [str(c) for c in choices], n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def choice_error(what: str, given: object, choices: Iterable[str]) -> UserError:
    """The one-line error for a value outside its choices: names the value, the closest choice, and all of them.

    Args:
        what: The option, as the user spells it (``--crop-op``).
        given: The value given.
        choices: The valid values.

    Returns:
        The error to raise.
    """
    choices = list(choices)
    return UserError(f"{what} must be one of {', '.join(choices)}, got {given!r}{did_you_mean(str(given), choices)}")


def missing_file_error(path: object, what: str) -> UserError:
    """The error for a file option that names no file: a folder is called a folder, not "not found".

    Args:
        path: The path given.
        what: What it should be, as the user knows it (``config file``, ``--init-from file``).

    Returns:
        The error to raise.
    """
    import os

    if os.path.isdir(str(path)):
        return UserError(f"{what} {path} is a folder; give the file itself")
    return UserError(f"{what} not found: {path}")


def first_line(err: BaseException) -> str:
    """An exception's first line of text, or its type's name when it has none (for one-line messages)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__

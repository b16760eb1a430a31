"""Checks of the places a command will write to, made before its work, importable without torch.

A command that trains, searches or measures for minutes and only then finds that it cannot write
its result loses that time. Every command that writes a file or folder the user named checks it
here first: a folder where a file is meant (or the reverse), a file in the way of a parent folder,
or a place that cannot be written is one :class:`~efficienttrain.errors.UserError` line. The check
creates nothing; the writer makes missing folders when it writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from .errors import UserError

__all__ = ["prepare_output_file", "prepare_output_folder"]

PathLike = Union[str, Path]


def prepare_output_file(path: PathLike, flag: str, example: str) -> Path:
    """Check, before a command does its work, that it can write the file ``path`` at the end.

    A command that works for minutes and then cannot write its result loses that time, so a
    folder, a file standing where a parent folder should be, or a place that cannot be written is
    refused at once. Nothing is created: the writer makes missing folders when it writes.

    Args:
        path: The file the user named.
        flag: The option that named it (``--out``).
        example: A file name to suggest (``plan.yaml``).

    Returns:
        The path, with ``~`` expanded.

    Raises:
        UserError: One line naming the problem and the fix.
    """
    given = str(path)
    path = Path(path).expanduser()
    if given.endswith(("/", os.sep)) or path.is_dir() or path.name in ("", ".", ".."):
        raise UserError(f"{flag} {given} is a folder; name the file to write, such as {path / example}")
    _check_writable_folder(path.parent, f"{flag} {given}", flag)
    return path


def prepare_output_folder(path: PathLike, flag: str) -> Path:
    """Check, before a command does its work, that it can write files into the folder ``path``.

    As :func:`prepare_output_file`: a file in its place or in the way of it, or a place that
    cannot be written, is refused at once in one line, and nothing is created.

    Args:
        path: The folder the user named.
        flag: The option that named it (``--out``).

    Returns:
        The folder, with ``~`` expanded.

    Raises:
        UserError: One line naming the problem and the fix.
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{flag} {path} is a file; name a folder to write into")
    _check_writable_folder(folder, f"{flag} {path}", flag)
    return folder


def _check_writable_folder(folder: Path, what: str, flag: str) -> None:
    """Whether ``folder`` exists or can be made, and takes files; else one line that starts with ``what``."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{what}: the file {existing} stands in the way of the folder {folder}; choose another {flag}")
    tmp = existing / f".write-check.tmp-{os.getpid()}"  # the temporary-file pattern that a run folder's cleanup knows
    try:  # a trial write: permissions alone miss read-only and pseudo file systems, and root passes them all
        tmp.touch()
        tmp.unlink()
    except OSError as err:
        raise UserError(f"{what}: cannot write in {existing} ({err.strerror}); make it writable or choose another {flag}") from None

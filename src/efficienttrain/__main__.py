"""``python -m efficienttrain``: the command line."""

from .cli import _entry

_entry()

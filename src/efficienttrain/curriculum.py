"""Deprecated location of the curricula: import from :mod:`efficienttrain.curricula` (or the package root).

Kept for one release so that existing imports (``from efficienttrain.curriculum import efficienttrain``)
keep working; everything here is re-exported from :mod:`efficienttrain.curricula`.
"""

from .curricula import *  # noqa: F401,F403
from .curricula import __all__  # noqa: F401

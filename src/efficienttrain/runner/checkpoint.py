"""Deprecated location (kept for one release): checkpoint files are :mod:`efficienttrain.rundir`'s,
RNG states :mod:`efficienttrain.runner.state`'s, and ``load_weights`` is :mod:`efficienttrain.models`'."""

from ..models import load_weights
from ..rundir import FORMAT_VERSION, export_safetensors, load_checkpoint, save_checkpoint
from .rng import capture_rng, restore_rng

__all__ = ["save_checkpoint", "load_checkpoint", "capture_rng", "restore_rng", "export_safetensors", "load_weights", "FORMAT_VERSION"]

"""Checkpoints: atomic writes, ``weights_only`` loading, RNG capture, safetensors export.

Everything a checkpoint holds is a tensor, a number, a string, or a list/dict of those, so it
loads with ``torch.load(weights_only=True)``: opening a checkpoint never runs code from it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from ..errors import UserError

__all__ = ["save_checkpoint", "load_checkpoint", "capture_rng", "restore_rng", "export_safetensors", "load_weights"]

FORMAT_VERSION = 1


def capture_rng() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Restore generator states saved by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def save_checkpoint(state: dict[str, Any], path: Union[str, Path]) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write never leaves a broken file.

    Args:
        state: The checkpoint dict.
        path: Destination.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT_VERSION, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Args:
        path: Checkpoint file.
        map_location: Where to put the tensors.

    Returns:
        The checkpoint dict.

    Raises:
        UserError: If the file is missing or not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise UserError(f"cannot load checkpoint {path} ({str(err).splitlines()[0]}); is it a complete efficienttrain checkpoint?") from None


def export_safetensors(state_dict: dict[str, torch.Tensor], path: Union[str, Path], metadata: Optional[dict[str, str]] = None) -> Path:
    """Save a model state dict as safetensors (shared tensors are cloned first).

    Args:
        state_dict: Model weights.
        path: Destination ``.safetensors`` file.
        metadata: String metadata stored in the header.

    Returns:
        The path written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(tensors, str(tmp), metadata=metadata or {})
    os.replace(tmp, path)
    return path


def load_weights(model: nn.Module, path: Union[str, Path]) -> list[str]:
    """Initialise ``model`` from a checkpoint or safetensors file, for fine-tuning.

    Tensors whose shape does not match (typically the classifier head of another dataset) are
    skipped and left at their fresh initialisation.

    Args:
        model: The model to fill.
        path: An efficienttrain checkpoint (``.pt``), a plain state dict, or ``.safetensors``.

    Returns:
        Names of the parameters left at their initialisation.

    Raises:
        UserError: If the file cannot be read or no tensor matches the model.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--init-from file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        ckpt = load_checkpoint(path)
        state = ckpt.get("ema") or ckpt.get("model") or ckpt if isinstance(ckpt, dict) else {}
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise UserError(f"no weights in {path} match the model; is it a checkpoint of the same architecture?")
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))

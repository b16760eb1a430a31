"""Find and load the checkpoints that the analyses compare.

A *series* is what one training run leaves behind: per-epoch snapshots ``epoch_NNN.pt`` (written
by the runner's ``--snapshot-every``), the resumable ``last.pt`` and the exported
``model.safetensors``. :func:`resolve_checkpoints` turns files and run directories into an
ordered list of files; :func:`load_model` rebuilds the timm model of one file.

What each format provides:

* runner checkpoints (``.pt``) carry the training config, so the model name, the final size and
  the validation data are known; the number of classes is read off the classifier weights;
* ``.safetensors`` exports carry ``model``, ``num_classes`` and ``final_size`` in their metadata
  when the runner wrote them; other safetensors files need ``--model`` and ``--num-classes``;
* a plain state dict saved with ``torch.save`` needs ``--model``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from torch import nn

from ..errors import UserError

__all__ = [
    "LoadedModel",
    "resolve_checkpoints",
    "load_model",
    "checkpoint_epoch",
    "final_size_from_config",
    "infer_num_classes",
    "cost_until",
    "peek_config",
    "CHECKPOINT_SUFFIXES",
]

PathLike = Union[str, Path]
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")
_EPOCH_FILE = re.compile(r"epoch[_-]?(\d+)", re.IGNORECASE)
# Native sizes the runner trains at when --final-size is not given.


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint file, in eval mode.

    Attributes:
        model: The timm model.
        name: timm model name.
        num_classes: Classifier outputs.
        image_size: Size the model was trained to end at (``None`` when the file does not say).
        epoch: Epochs of training behind the weights (``None`` when unknown).
        label: Short name for tables and plots (``epoch 12``, or the file name).
        path: The file.
        config: The runner's training config (empty for safetensors and plain state dicts).
        curriculum: The run's curriculum as a dict, when the file holds one.
    """

    model: nn.Module
    name: str
    num_classes: int
    image_size: Optional[int]
    epoch: Optional[int]
    label: str
    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    curriculum: Optional[dict[str, Any]] = None

    def cost(self) -> Optional[float]:
        """Training cost behind the weights, in epochs at the final size (pixel cost model).

        Returns:
            ``None`` when the epoch or the curriculum is unknown.
        """
        if self.epoch is None or not self.curriculum:
            return None
        try:
            return cost_until(self.curriculum, self.epoch)
        except (ValueError, TypeError):
            # A curriculum this version cannot read only costs the cost axis, not the analysis.
            return None


def cost_until(curriculum: dict[str, Any], epoch: float) -> float:
    """Cost of the first ``epoch`` epochs of a curriculum, in epochs at the final size.

    Each stage costs its share of the epochs times ``(B / final_size)^2`` (the pixel model), so
    a constant full-size run costs exactly its epoch count; this is the x/y scale of Fig. 6.

    Args:
        curriculum: A curriculum dict (:meth:`~efficienttrain.Curriculum.to_dict`).
        epoch: Epochs completed.

    Returns:
        The cost.
    """
    from ..cost import cost_between
    from ..curriculum import Curriculum

    return cost_between(Curriculum.from_dict(curriculum), 0.0, epoch)


def final_size_from_config(config: dict[str, Any]) -> Optional[int]:
    """The final (evaluation) size of a run, by the runner's rule.

    Args:
        config: A training config dict.

    Returns:
        The size from :func:`efficienttrain.runner.config.resolve_final_size`; ``None`` for an
        empty config.
    """
    from ..runner.config import resolve_final_size

    if not config:
        return None
    return resolve_final_size(str(config.get("data")), config.get("final_size"), int(config.get("demo_image_size") or 64))


def _epoch_from_name(path: Path) -> Optional[int]:
    match = _EPOCH_FILE.search(path.stem)
    return int(match.group(1)) if match else None


def checkpoint_epoch(ckpt: dict[str, Any], path: Optional[PathLike] = None) -> Optional[int]:
    """How many epochs of training a checkpoint holds.

    Args:
        ckpt: The loaded checkpoint dict.
        path: Its file, whose name (``epoch_012.pt``) is the last resort.

    Returns:
        The epoch count, or ``None`` when nothing tells it.
    """
    if isinstance(ckpt.get("epoch"), (int, float)):
        return int(ckpt["epoch"])
    sampler = ckpt.get("sampler")
    if isinstance(sampler, dict) and isinstance(sampler.get("epoch"), (int, float)):
        return int(sampler["epoch"])
    history = ckpt.get("history")
    if isinstance(history, list) and history and isinstance(history[-1], dict) and "epoch" in history[-1]:
        return int(history[-1]["epoch"])
    return _epoch_from_name(Path(path)) if path is not None else None


def _peek_epoch(path: Path) -> Optional[int]:
    # Memory-mapped, so finding the epoch of a large last.pt does not read its tensors.
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - an unreadable file is reported when it is loaded for real
        return None
    return checkpoint_epoch(ckpt, path) if isinstance(ckpt, dict) else None


def peek_config(path: PathLike) -> tuple[dict[str, Any], Optional[int]]:
    """The training config and final size a checkpoint file records, without building a model.

    Args:
        path: A checkpoint file.

    Returns:
        ``(config, final_size)``: the runner's config dict (empty when the file has none) and the
        final size (from the config, or the safetensors metadata; ``None`` when unknown).
    """
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
        except Exception:  # noqa: BLE001 - reported properly when the weights are loaded
            return {}, None
        size = meta.get("final_size", "")
        return {}, int(size) if size.isdigit() else None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - reported properly when the weights are loaded
        return {}, None
    config = dict(ckpt.get("config") or {}) if isinstance(ckpt, dict) and isinstance(ckpt.get("config"), dict) else {}
    return config, final_size_from_config(config)


def _from_directory(directory: Path) -> list[Path]:
    snapshots = [p for p in directory.glob("epoch_*.pt") if _epoch_from_name(p) is not None]
    snapshots.sort(key=lambda p: _epoch_from_name(p))  # type: ignore[arg-type, return-value]
    last = directory / "last.pt"
    if snapshots:
        # last.pt usually repeats the final snapshot; keep it only if it is further along.
        if last.is_file():
            last_epoch = _peek_epoch(last)
            if last_epoch is not None and last_epoch > (_epoch_from_name(snapshots[-1]) or 0):
                snapshots.append(last)
        return snapshots
    if last.is_file():
        return [last]
    exported = directory / "model.safetensors"
    if exported.is_file():
        return [exported]
    raise UserError(
        f"no checkpoints in {directory} (looked for epoch_*.pt, last.pt, model.safetensors); "
        "train with --snapshot-every 1 to keep per-epoch weights, or pass checkpoint files"
    )


def resolve_checkpoints(paths: Sequence[PathLike]) -> list[Path]:
    """Expand files and run directories into an ordered list of checkpoint files.

    A directory contributes its ``epoch_*.pt`` snapshots in epoch order (plus ``last.pt`` if it
    is further along than the last snapshot), else its ``last.pt``, else its
    ``model.safetensors``. Files are kept in the order given; duplicates are dropped.

    Args:
        paths: Checkpoint files (``.pt``, ``.pth``, ``.safetensors``) and run directories.

    Returns:
        The checkpoint files.

    Raises:
        UserError: If a path is missing, has an unknown suffix, or a directory holds no checkpoint.
    """
    if not paths:
        raise UserError("no checkpoints given; pass checkpoint files or run directories")
    out: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = _from_directory(path)
        elif path.is_file():
            if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
                raise UserError(f"{path} is not a checkpoint; pass .pt, .pth or .safetensors files, or a run directory")
            found = [path]
        else:
            raise UserError(f"checkpoint or run directory not found: {path}; check the path (a run directory holds last.pt or epoch_*.pt)")
        for p in found:
            if p not in out:
                out.append(p)
    return out


def _classifier_param_names(model: nn.Module) -> list[str]:
    get = getattr(model, "get_classifier", None)
    if get is None:
        return []
    head = get()
    heads = head if isinstance(head, (tuple, list)) else (head,)
    ids = {id(p) for h in heads if isinstance(h, nn.Module) for p in h.parameters()}
    return [n for n, p in model.named_parameters() if id(p) in ids and p.dim() >= 2]


def infer_num_classes(name: str, state: dict[str, torch.Tensor]) -> Optional[int]:
    """Read the number of classes off the classifier weight of a timm state dict.

    Args:
        name: timm model name.
        state: The weights.

    Returns:
        The classifier's output count, or ``None`` if the model has no recognisable classifier
        in ``state``.

    Raises:
        UserError: If ``name`` is not a timm model.
    """
    from ..models import create_model

    try:
        # On the meta device nothing is allocated, so the probe costs nothing even for big models.
        with torch.device("meta"):
            probe = create_model(name, 1000)
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta: build it for real
        probe = create_model(name, 1000)
    for param_name in _classifier_param_names(probe):
        if param_name in state:
            return int(state[param_name].shape[0])
    return None


def _safetensors_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        return load_file(str(path)), meta
    except Exception as err:  # noqa: BLE001 - any parse failure is a bad file for the user
        raise UserError(f"cannot read {path} as safetensors ({str(err).splitlines()[0]}); is the file complete?") from None


def load_model(
    path: PathLike,
    *,
    model: Optional[str] = None,
    num_classes: Optional[int] = None,
    ema: bool = False,
    device: Union[str, torch.device] = "cpu",
) -> LoadedModel:
    """Rebuild the model of a checkpoint file and load its weights.

    Args:
        path: A runner checkpoint (``.pt``), a plain state dict (``.pt``/``.pth``), or a
            ``.safetensors`` file.
        model: timm model name; required when the file does not name it (plain state dicts and
            safetensors files without the runner's metadata). Overrides the file's name.
        num_classes: Number of classes; read off the classifier weights when not given.
        ema: Use the EMA weights of a runner checkpoint.
        device: Device of the returned model.

    Returns:
        The :class:`LoadedModel`, in eval mode.

    Raises:
        UserError: If the file is missing or unreadable, the model name is unknown or missing,
            there are no EMA weights when asked for, or the weights do not fit the model.
    """
    from ..models import create_model
    from ..runner.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    config: dict[str, Any] = {}
    curriculum: Optional[dict[str, Any]] = None
    epoch: Optional[int] = None
    image_size: Optional[int] = None
    if path.suffix.lower() == ".safetensors":
        state, meta = _safetensors_state(path)
        name = model or meta.get("model")
        if num_classes is None and meta.get("num_classes", "").isdigit():
            num_classes = int(meta["num_classes"])
        if meta.get("final_size", "").isdigit():
            image_size = int(meta["final_size"])
        epoch = _epoch_from_name(path)
        if ema:
            raise UserError(f"{path} holds one set of weights; --ema needs a runner checkpoint (.pt) with EMA weights")
    else:
        ckpt = load_checkpoint(path)
        if not isinstance(ckpt, dict):
            raise UserError(f"{path} does not hold a state dict or an efficienttrain checkpoint")
        if isinstance(ckpt.get("model"), dict):
            state = ckpt.get("ema") if ema else ckpt["model"]
            if state is None:
                raise UserError(f"{path} has no EMA weights (the run did not use --ema); drop --ema")
            config = dict(ckpt.get("config") or {})
            curriculum = ckpt.get("curriculum") or None
            epoch = checkpoint_epoch(ckpt, path)
        elif ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            if ema:
                raise UserError(f"{path} is a plain state dict without EMA weights; drop --ema")
            state = ckpt
            epoch = _epoch_from_name(path)
        else:
            raise UserError(f"{path} does not hold a state dict or an efficienttrain checkpoint")
        name = model or config.get("model")
        image_size = final_size_from_config(config)
    if not name:
        raise UserError(f"{path} does not name its model; pass --model NAME (a timm model name)")
    if num_classes is None:
        num_classes = infer_num_classes(name, state)
        if num_classes is None:
            raise UserError(f"cannot tell the number of classes of {path}; pass --num-classes N")
    net = create_model(name, num_classes, img_size=image_size)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err).splitlines()[0])
        raise UserError(
            f"the weights in {path} do not fit {name} with {num_classes} classes ({first}); check --model and --num-classes"
        ) from None
    net.to(device).eval()
    label = f"epoch {epoch}" if epoch is not None else path.stem
    return LoadedModel(net, name, num_classes, image_size, epoch, label, path, config, curriculum)

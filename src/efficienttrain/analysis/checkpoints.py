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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar, Union

import torch
from torch import nn

from ..data.datasets import default_final_size
from ..errors import UserError
from ..rundir import RunDir, WeightsFile, checkpoint_epoch, read_weights_file

__all__ = [
    "LoadedModel",
    "resolve_checkpoints",
    "load_model",
    "checkpoint_epoch",  # re-exported from efficienttrain.rundir
    "final_size_from_config",
    "infer_num_classes",
    "cost_until",
    "peek_config",
    "for_each_model",
    "series_info",
    "CHECKPOINT_SUFFIXES",
]

PathLike = Union[str, Path]
T = TypeVar("T")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")


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
        config: The runner's training config (for safetensors, only the model's extra constructor arguments; empty for plain state dicts).
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

    def without_weights(self) -> "LoadedModel":
        """The same record with the model dropped (series keep one model in memory at a time)."""
        return LoadedModel(nn.Identity(), self.name, self.num_classes, self.image_size, self.epoch, self.label, self.path, self.config, self.curriculum)

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
    from ..curricula import Curriculum

    return cost_between(Curriculum.from_dict(curriculum), 0.0, epoch)


def final_size_from_config(config: dict[str, Any]) -> Optional[int]:
    """The final (evaluation) size of a run, by the runner's rule.

    Args:
        config: A training config dict.

    Returns:
        The size from :func:`efficienttrain.data.datasets.default_final_size`; ``None`` for an
        empty config.
    """
    from ..data.datasets import default_final_size

    if not config:
        return None
    return default_final_size(str(config.get("data")), config.get("final_size"), int(config.get("demo_image_size") or 64))


def peek_config(path: PathLike) -> tuple[dict[str, Any], Optional[int]]:
    """The training config and final size a checkpoint file records, without building a model.

    Args:
        path: A checkpoint file.

    Returns:
        ``(config, final_size)``: the runner's config dict (empty when the file has none) and the
        final size (``None`` when unknown).
    """
    try:
        weights = read_weights_file(path, header_only=True)
    except UserError:  # reported properly when the weights are loaded
        return {}, None
    return weights.config, final_size_of(weights)


def final_size_of(weights: WeightsFile) -> Optional[int]:
    """The final size a weights file records or, for a runner file of an old version that lacks it, its config's.

    Args:
        weights: A file read by :func:`~efficienttrain.rundir.read_weights_file`.

    Returns:
        The size, or ``None`` when neither tells it.
    """
    if weights.final_size is not None:
        return weights.final_size
    config = weights.config
    if not config:
        return None
    return default_final_size(str(config.get("data")), config.get("final_size"), int(config.get("demo_image_size") or 64))


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
            found = RunDir(path).weight_files()
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
    from ..models import classifier_param_names, create_model

    try:
        # On the meta device nothing is allocated, so the probe costs nothing even for big models.
        with torch.device("meta"):
            probe = create_model(name, 1000)
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta: build it for real
        probe = create_model(name, 1000)
    for param_name in classifier_param_names(probe, weights_only=True):
        if param_name in state:
            return int(state[param_name].shape[0])
    return None


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
    from ..models import constructor_kwargs, create_model

    weights = read_weights_file(path)
    if ema and weights.ema is None:
        if weights.kind == "safetensors":
            raise UserError(f"{path} holds one set of weights; --ema needs a runner checkpoint (.pt) with EMA weights")
        if weights.kind == "state_dict":
            raise UserError(f"{path} is a plain state dict without EMA weights; drop --ema")
        raise UserError(f"{path} has no EMA weights (the run did not use --ema); drop --ema")
    state = weights.ema if ema else weights.model
    name = model or weights.model_name
    num_classes = num_classes if num_classes is not None else weights.num_classes
    path, epoch, image_size, config, curriculum = weights.path, weights.epoch, final_size_of(weights), weights.config, weights.curriculum
    if not name:
        raise UserError(f"{path} does not name its model; pass --model NAME (a timm model name)")
    if num_classes is None:
        num_classes = infer_num_classes(name, state)
        if num_classes is None:
            raise UserError(f"cannot tell the number of classes of {path}; pass --num-classes N")
    net = create_model(name, num_classes, img_size=image_size, **constructor_kwargs(config.get("model_kwargs"), config.get("patch_size")))
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


def series_info(models: Sequence[LoadedModel]) -> list[dict[str, Any]]:
    """Label, epoch, cost and path of each checkpoint of a series, for tables, files and plots.

    Checkpoints of several runs all say "epoch N", so the run directory is prefixed when the
    series spans several; if labels still collide, the full paths are used.
    """
    parents = {m.path.parent for m in models}
    labels = [f"{m.path.parent.name}/{m.label}" if len(parents) > 1 else m.label for m in models]
    if len(set(labels)) < len(labels):
        labels = [str(m.path) for m in models]
    return [{"label": label, "epoch": m.epoch, "cost": m.cost(), "path": str(m.path)} for label, m in zip(labels, models)]


def for_each_model(
    sources: Sequence[Union[PathLike, LoadedModel]],
    fn: Callable[[LoadedModel, Optional[Callable[[], None]]], T],
    *,
    batches_per_model: int,
    desc: str,
    model: Optional[str] = None,
    num_classes: Optional[int] = None,
    ema: bool = False,
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
) -> list[tuple[LoadedModel, T]]:
    """Load each checkpoint in turn and apply ``fn`` to it, holding one model in memory at a time.

    Args:
        sources: Checkpoint files, or models already loaded.
        fn: Called with the loaded model and a per-batch progress callback (``None`` without a
            bar); its result is kept.
        batches_per_model: Batches ``fn`` runs per model (the bar's length).
        desc: Progress bar label.
        model: timm name for files that do not carry one.
        num_classes: Class count for files that do not carry one.
        ema: Use the EMA weights of runner checkpoints.
        device: Where the models run.
        progress: Show a progress bar.

    Returns:
        ``(metadata, result)`` per source, in order; the metadata has its weights dropped.
    """
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(sources) * batches_per_model, desc=desc, unit="batch", leave=False)
    out: list[tuple[LoadedModel, T]] = []
    try:
        for src in sources:
            lm = src if isinstance(src, LoadedModel) else load_model(src, model=model, num_classes=num_classes, ema=ema, device=device)
            lm.model.to(device)
            if bar is not None:
                bar.set_postfix_str(lm.label)
            result = fn(lm, (lambda: bar.update(1)) if bar is not None else None)
            out.append((lm.without_weights(), result))
            del lm
    finally:
        if bar is not None:
            bar.close()
    return out

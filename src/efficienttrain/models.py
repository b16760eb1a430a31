"""Create timm models that accept every input size of a curriculum, and check that they do.

ConvNets take any size as they are. ViT/DeiT are built with ``dynamic_img_size=True`` (the
position embedding is interpolated in the forward pass) and Swin with ``strict_img_size=False``
(attention masks and padding follow the input). Either way the parameters stay the same objects,
so the optimizer never loses track of them when the size changes.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping, Optional, Sequence

import torch
from torch import nn

from .errors import UserError, first_line, missing_file_error

__all__ = ["create_model", "check_model_sizes", "suggest_multiple_of", "model_size_hint", "load_weights", "classifier_param_names", "constructor_kwargs", "RESERVED_MODEL_KWARGS"]

# Constructor arguments that other options own: --model-kwargs may not set them.
RESERVED_MODEL_KWARGS = {"num_classes": "the dataset sets it", "img_size": "use --final-size", "drop_path_rate": "use --drop-path", "pretrained": "use --pretrained"}


def constructor_kwargs(model_kwargs: Optional[Mapping[str, Any]] = None, patch_size: Optional[int] = None) -> dict[str, Any]:
    """The timm constructor arguments a run adds to the model's own: ``--model-kwargs`` and ``--patch-size``.

    Every place that rebuilds a run's model (training, MAE, loading a checkpoint) goes through
    this, so a model built with, say, ``depth=6`` is rebuilt the same way.

    Args:
        model_kwargs: ``--model-kwargs`` (for example ``{"depth": 6, "global_pool": "avg"}``).
        patch_size: ``--patch-size``, or None for the model's own.

    Returns:
        The keyword arguments for :func:`create_model`.
    """
    out = dict(model_kwargs or {})
    if patch_size:
        out["patch_size"] = patch_size
    return out


def create_model(
    name: str,
    num_classes: int,
    *,
    img_size: Optional[int] = None,
    drop_path_rate: float = 0.0,
    pretrained: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Create a timm model by name, ready for the changing input sizes of a curriculum.

    Args:
        name: timm model name, e.g. ``resnet18``, ``deit_tiny_patch16_224``, ``swin_tiny_patch4_window7_224``.
        num_classes: Number of output classes.
        img_size: Final (evaluation) input size, passed to models that take one.
        drop_path_rate: Stochastic depth rate.
        pretrained: Load timm's pretrained weights (needs network access or a local cache).
        **kwargs: Further keyword arguments for the timm model.

    Returns:
        The model.

    Raises:
        UserError: If the name is not a timm model (the message lists close matches).
    """
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; list them with `python -c 'import timm; print(timm.list_models())'`"
        raise UserError(f"unknown model {name!r}{hint}")
    base: dict[str, Any] = {"num_classes": num_classes, **kwargs}
    if drop_path_rate:
        base["drop_path_rate"] = drop_path_rate
    # timm raises TypeError for keywords a model class does not take, so try the size options
    # from most to least specific: ViT-style dynamic size, Swin-style non-strict size, none.
    attempts = ({"dynamic_img_size": True}, {"strict_img_size": False}, {})
    last_err: Optional[Exception] = None
    for size_opts in attempts:
        for with_size in ((True, False) if img_size is not None else (False,)):
            extra = dict(size_opts, **({"img_size": img_size} if with_size else {}))
            extra.update({k: v for k, v in base.items()})
            try:
                return timm.create_model(name, pretrained=pretrained, **extra)
            except TypeError as err:
                last_err = err
            except (KeyError, ValueError, AssertionError) as err:  # a constructor argument timm cannot resolve (act_layer=foo)
                given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "the defaults"
                raise UserError(f"cannot create model {name!r} with {given} ({type(err).__name__}: {err}); check --model-kwargs") from None
    raise UserError(f"cannot create model {name!r}: {last_err}")


def model_size_hint(model: nn.Module) -> int:
    """A ``multiple_of`` that suits the model: its patch size times its total down-sampling.

    Args:
        model: A timm model.

    Returns:
        16 for ViT-B/16-like models, 32 for Swin (patch 4, three 2x merges) and most ConvNets.
    """
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is not None and hasattr(patch_embed, "patch_size"):
        patch = patch_embed.patch_size
        patch = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
        layers = getattr(model, "layers", None)
        if isinstance(layers, (nn.Sequential, nn.ModuleList)) and len(layers) > 1:
            return patch * 2 ** (len(layers) - 1)
        return patch
    reduction = 32
    info = getattr(model, "feature_info", None)
    try:
        reduction = int(info[-1]["reduction"]) if info else 32
    except (TypeError, KeyError, IndexError):
        pass
    return reduction


_OUT_OF_MEMORY = "out of memory"


def _try_sizes(model: nn.Module, sizes: Iterable[int], device: torch.device, channels: int) -> Optional[tuple[int, str]]:
    for size in sizes:
        try:
            with torch.no_grad():
                out = model(torch.zeros(1, channels, size, size, device=device))
            if not torch.isfinite(out).all():
                return size, "the output is not finite"
        except torch.OutOfMemoryError:
            return size, _OUT_OF_MEMORY
        except Exception as err:  # noqa: BLE001 - any failure means the size is unusable
            if "can't allocate memory" in str(err) or "not enough memory" in str(err):
                return size, _OUT_OF_MEMORY  # the CPU allocator's words: the size fits the model, not the machine
            return size, first_line(err)
    return None


def suggest_multiple_of(model: nn.Module, sizes: Sequence[int], final_size: int, device: torch.device, channels: int = 3) -> Optional[int]:
    """Find a ``multiple_of`` whose rounded sizes the model accepts.

    Args:
        model: The model.
        sizes: The curriculum's sizes.
        final_size: The final size (never rounded).
        device: Device to test on.
        channels: Input channels.

    Returns:
        The smallest working quantum among the model's hint, 8, 14, 16, 28 and 32, or ``None``.
    """
    from .curricula import round_size

    candidates = sorted({model_size_hint(model), 8, 14, 16, 28, 32})
    for k in candidates:
        rounded = {final_size} | {round_size(s, k, final_size) for s in sizes if s != final_size}
        if _try_sizes(model, sorted(rounded), device, channels) is None:
            return k
    return None


def check_model_sizes(
    model: nn.Module,
    sizes: Sequence[int],
    *,
    final_size: Optional[int] = None,
    device: Optional[torch.device] = None,
    channels: int = 3,
    model_name: str = "the model",
) -> None:
    """Run one forward pass at each size and fail early, with a fix, if any size is rejected.

    The model is put in eval mode for the check (so batch-norm statistics do not move) and its
    mode is restored afterwards.

    Args:
        model: The model.
        sizes: Input sizes to test.
        final_size: The final size, which a suggested ``multiple_of`` never changes.
        device: Device of the test inputs (default: the model's).
        channels: Input channels.
        model_name: Name used in the error message.

    Raises:
        UserError: Naming the first failing size and a ``multiple_of`` that works, if one does.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        failure = _try_sizes(model, sorted(set(sizes)), device, channels)
        if failure is None:
            return
        size, reason = failure
        if reason == _OUT_OF_MEMORY:
            raise UserError(f"out of memory in one forward pass of {model_name} at {size}x{size}: the size is too large for this machine, not for the model; lower --final-size")
        final = final_size or max(sizes)
        k = suggest_multiple_of(model, sizes, final, device, channels)
        fix = f"use --multiple-of {k} (multiple_of={k})" if k else "choose sizes the model supports"
        raise UserError(f"{model_name} cannot take input size {size}x{size} ({reason}); {fix}")
    finally:
        model.train(was_training)


def classifier_param_names(model: nn.Module, *, weights_only: bool = False) -> list[str]:
    """Names of the parameters of a timm model's classifier head (``get_classifier()``).

    Args:
        model: A timm model.
        weights_only: Only the weight matrices (at least 2-D), not the biases.

    Returns:
        The names, in ``named_parameters`` order; empty for a model without a classifier.
    """
    get = getattr(model, "get_classifier", None)
    if get is None:
        return []
    head = get()
    heads = head if isinstance(head, (tuple, list)) else (head,)
    ids = {id(p) for h in heads if isinstance(h, nn.Module) for p in h.parameters()}
    return [n for n, p in model.named_parameters() if id(p) in ids and (p.dim() >= 2 or not weights_only)]


#: The share of a model's tensors (the classifier aside) that ``--init-from`` must fill.
MIN_INIT_SHARE = 0.5


def load_weights(model: nn.Module, path: Any, *, classes: Optional[Sequence[str]] = None, keep_head: bool = False, new_head: bool = False) -> list[str]:
    """Initialise ``model`` from a checkpoint or safetensors file, for fine-tuning (``--init-from``).

    Tensors whose shape does not match (typically the classifier head of another dataset) are
    skipped and left at their fresh initialisation. When the file names the classes it was trained
    on and they differ from ``classes``, the classifier head starts fresh even if its shape fits
    (a new label set gets a new head, as timm does), unless ``keep_head``. A runner checkpoint
    with EMA weights gives its EMA weights.

    Args:
        model: The model to fill.
        path: An efficienttrain checkpoint (``.pt``), a plain state dict, or ``.safetensors``.
        classes: The class names of the data ``model`` will train on, if known.
        keep_head: Keep a fitting classifier head even for other class names (``--keep-head``).
        new_head: Start the classifier head fresh in any case (``--new-head``): for files that name
            no classes, whose head would otherwise be kept when it fits.

    Returns:
        Names of the parameters left at their initialisation.

    Raises:
        UserError: If the file cannot be read, or fills less than :data:`MIN_INIT_SHARE` of the
            model's tensors (the classifier aside): a checkpoint of another architecture.
    """
    from pathlib import Path

    from .rundir import read_weights_file

    path = Path(path)
    if not path.is_file():
        raise missing_file_error(path, "--init-from file")
    weights = read_weights_file(path)
    state = weights.ema or weights.model
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    broken = [k for k, v in usable.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise UserError(f"{path} holds NaN or infinite weights in {len(broken)} tensor(s) (e.g. {broken[0]}); it cannot start a run: use an earlier checkpoint")
    other_labels = classes is not None and weights.classes is not None and list(weights.classes) != list(classes)
    if new_head or (other_labels and not keep_head):
        for name in classifier_param_names(model):
            usable.pop(name, None)
    if not usable:
        raise UserError(
            f"no weights in {path} match the model; is it a checkpoint of the same architecture? "
            "(of an --objective mae run, use its model.safetensors: the exported encoder)"
        )
    body = [k for k in own if k not in classifier_param_names(model)]
    if sum(k in usable for k in body) < MIN_INIT_SHARE * len(body):
        # Another architecture shares some names and shapes (the later blocks of another ResNet):
        # a run would start from a patchwork, and the log line alone would not show it.
        made_for = f" (made for {weights.model_name})" if weights.model_name else ""
        raise UserError(
            f"only {sum(k in usable for k in body)} of the model's {len(body)} tensors match {path}{made_for}; "
            "--init-from needs a checkpoint of the same architecture: pass its --model, or another file"
        )
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))

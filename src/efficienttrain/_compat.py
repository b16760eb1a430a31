"""Every use of torch's and timm's internals, in one place, each behind a version check.

The package needs three things those libraries do not offer publicly:

* to change the magnitude of timm's RandAugment after it was built (its ``ops`` list and each
  op's ``magnitude``), which is how the curriculum's magnitude reaches the workers;
* to replace timm's posterize op, which asks Pillow 13 for 0 bits and makes it raise;
* to edit a built training transform for the opt-in loader savings: the step list of a
  ``Compose`` (``transforms``) and the output size and aspect-ratio range of timm's
  ``RandomResizedCropAndInterpolation`` (``size``, ``ratio``), which have no setters;
* for MAE, to run a timm ``VisionTransformer`` on a subset of its patch tokens: its patch
  embedding, position embedding (resampled with timm's public ``resample_abs_pos_embed``), prefix
  tokens, ``pos_drop``, ``norm_pre``, ``blocks`` and ``norm``, which ``forward_features`` only
  offers for all tokens together;
* to stop a DataLoader's persistent workers on demand (``_iterator._shutdown_workers``), so that
  workers which ignore SIGTERM (on purpose: the main process saves a checkpoint first) still end;
* for ``--compile``: on a torch older than 2.14, to raise dynamo's global recompile limit
  (``torch._dynamo.config``; newer ones take ``recompile_limit`` per ``torch.compile`` call), so
  that a curriculum's sizes never push a stage back to eager; and to wrap inductor's backend
  (``torch._TorchCompileInductorWrapper``), so that the graphs it compiles can be counted.

Each function checks that the internal exists and raises a :class:`RuntimeError` that names the
tested versions when it does not, instead of failing somewhere deeper.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

__all__ = [
    "TESTED",
    "timm_randaugment_ops",
    "set_timm_op_magnitude",
    "shutdown_loader_workers",
    "compose_steps",
    "ViTShape",
    "vit_shape",
    "vit_patch_shape",
    "vit_patch_tokens",
    "vit_position_embedding",
    "vit_prefix_tokens",
    "vit_blocks",
    "crop_aspect_ratios",
    "set_crop_size",
    "recompile_limit",
    "set_recompile_limit",
    "compile_limit_kwargs",
    "compile_backend",
]

# The versions these internals were checked against (constraints.txt pins the exact ones).
TESTED = {"timm": "1.0", "torch": "2.1 to 2.14"}


def _missing(library: str, what: str) -> RuntimeError:
    import importlib.metadata as md

    try:
        found = md.version(library)
    except md.PackageNotFoundError:  # pragma: no cover - the library is a dependency
        found = "not installed"
    return RuntimeError(f"efficienttrain relies on {library}'s {what}, which this {library} ({found}) lacks; it was tested with {library} {TESTED[library]}")


def timm_randaugment_ops(randaugment: Any) -> list[Any]:
    """The ops of a timm ``RandAugment``, with the posterize op made safe for Pillow 13.

    timm asks for 0 bits at the ends of its magnitude range ("Posterize" at m < 2.5,
    "PosterizeIncreasing" at m = 10). Pillow < 13 returned a black image for that, Pillow 13
    raises; the op is given the old (and TensorFlow's) meaning so that training does not crash
    at random.

    Args:
        randaugment: A ``timm.data.auto_augment.RandAugment``.

    Returns:
        Its ``ops`` list (the same objects).

    Raises:
        RuntimeError: If this timm's RandAugment has no ``ops`` of ``AugmentOp`` objects.
    """
    ops = getattr(randaugment, "ops", None)
    if ops is None or any(not (hasattr(op, "magnitude") and hasattr(op, "aug_fn") and hasattr(op, "name")) for op in ops):
        raise _missing("timm", "RandAugment.ops (AugmentOp with name, magnitude and aug_fn)")
    for op in ops:
        if op.name.startswith("Posterize") and op.aug_fn is not _posterize_any_bits:
            op.aug_fn = _posterize_any_bits
    return list(ops)


def set_timm_op_magnitude(op: Any, magnitude: float) -> None:
    """Set one timm ``AugmentOp``'s magnitude (timm reads it at every call)."""
    op.magnitude = float(magnitude)


def timm_op_magnitude(op: Any) -> float:
    """One timm ``AugmentOp``'s magnitude (the ``m`` of its config string until something sets it)."""
    return float(op.magnitude)


def _posterize_any_bits(img: Any, bits_to_keep: int, **_: Any) -> Any:
    from PIL import Image, ImageOps

    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep)


def compose_steps(transform: Any) -> list[Any]:
    """The steps of a torchvision (or timm) ``Compose``: its ``transforms`` list, to edit in place."""
    steps = getattr(transform, "transforms", None)
    if not isinstance(steps, list):
        raise _missing("torch", "Compose.transforms list (torchvision)")
    return steps


def crop_aspect_ratios(crop: Any) -> tuple[float, float]:
    """The aspect-ratio range of timm's ``RandomResizedCropAndInterpolation`` (its ``ratio``)."""
    ratio = getattr(crop, "ratio", None)
    if ratio is None or len(ratio) != 2:
        raise _missing("timm", "RandomResizedCropAndInterpolation.ratio")
    return float(ratio[0]), float(ratio[1])


def set_crop_size(crop: Any, size: int) -> None:
    """Make a random-resized crop (timm's, or one with the same ``size`` attribute) output ``size`` x ``size``."""
    if not isinstance(getattr(crop, "size", None), tuple):
        raise _missing("timm", "RandomResizedCropAndInterpolation.size (an (h, w) tuple)")
    crop.size = (int(size), int(size))


class ViTShape(NamedTuple):
    """What MAE needs to know of a timm ViT: token width, prefix tokens, input channels, class token."""

    embed_dim: int
    num_prefix_tokens: int
    in_chans: int
    has_class_token: bool
    dynamic_img_size: bool


_VIT_PARTS = ("patch_embed", "pos_embed", "pos_drop", "norm_pre", "blocks", "norm", "embed_dim")


def vit_shape(vit: Any) -> ViTShape:
    """Check that ``vit`` has the timm ``VisionTransformer`` internals MAE drives, and read its shape."""
    missing = [name for name in _VIT_PARTS if not hasattr(vit, name)]
    proj = getattr(getattr(vit, "patch_embed", None), "proj", None)
    if missing or not hasattr(proj, "in_channels"):
        raise _missing("timm", f"VisionTransformer internals ({', '.join(missing) or 'patch_embed.proj'})")
    return ViTShape(int(vit.embed_dim), int(getattr(vit, "num_prefix_tokens", 0)), int(proj.in_channels),
                    getattr(vit, "cls_token", None) is not None, bool(getattr(vit, "dynamic_img_size", False)))  # fmt: skip


def vit_patch_shape(vit: Any) -> Optional[tuple[int, int]]:
    """The patch size ``(h, w)`` of a timm ViT, or ``None`` for a model that is not one (no ``patch_embed`` or ``blocks``)."""
    patch = getattr(getattr(vit, "patch_embed", None), "patch_size", None)
    if patch is None or not hasattr(vit, "blocks"):
        return None
    return (int(patch[0]), int(patch[1])) if isinstance(patch, (tuple, list)) else (int(patch), int(patch))


def vit_patch_tokens(vit: Any, images: Any, patch_size: int) -> tuple[Any, tuple[int, int]]:
    """The patch embeddings ``(B, N, D)`` of ``images`` and their grid ``(gh, gw)``."""
    x = vit.patch_embed(images)
    if x.dim() == 4:  # (B, gh, gw, D) with dynamic_img_size
        return x.reshape(x.shape[0], -1, x.shape[-1]), (int(x.shape[1]), int(x.shape[2]))
    return x, (images.shape[-2] // patch_size, images.shape[-1] // patch_size)


def vit_position_embedding(vit: Any, grid: tuple[int, int], num_prefix_tokens: int) -> tuple[Optional[Any], Optional[Any]]:
    """The ViT's position embedding resampled to ``grid``: (the prefix tokens' part or None, the patches' part)."""
    from timm.layers import resample_abs_pos_embed

    if vit.pos_embed is None:
        return None, None
    prefix = 0 if getattr(vit, "no_embed_class", False) else num_prefix_tokens
    pos = resample_abs_pos_embed(vit.pos_embed, new_size=list(grid), old_size=list(vit.patch_embed.grid_size), num_prefix_tokens=prefix)
    return (pos[:, :prefix] if prefix else None), pos[:, prefix:]


def vit_prefix_tokens(vit: Any) -> list[Any]:
    """The class and register tokens (``(1, n, D)`` each) the ViT puts before its patches."""
    return [t for t in (getattr(vit, "cls_token", None), getattr(vit, "reg_token", None)) if t is not None]


def vit_blocks(vit: Any, tokens: Any) -> Any:
    """The ViT's transformer on a token sequence: ``pos_drop``, ``norm_pre``, ``blocks``, ``norm``."""
    return vit.norm(vit.blocks(vit.norm_pre(vit.pos_drop(tokens))))


def shutdown_loader_workers(loader: Any) -> None:
    """Stop a DataLoader's worker processes now (persistent ones included) and forget its iterator.

    Args:
        loader: A ``torch.utils.data.DataLoader``.

    Raises:
        RuntimeError: If this torch's worker iterator has no ``_shutdown_workers``.
    """
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None:
        shutdown: Callable[[], None] = getattr(iterator, "_shutdown_workers", None)  # type: ignore[assignment]
        if shutdown is None and getattr(iterator, "_workers", None):
            raise _missing("torch", "DataLoader iterator's _shutdown_workers")
        if shutdown is not None:
            shutdown()
    if hasattr(loader, "_iterator"):
        loader._iterator = None


# Renamed from cache_size_limit in torch 2.7; older releases only know the old name.
_RECOMPILE_LIMIT_NAMES = ("recompile_limit", "cache_size_limit")


def _dynamo_config() -> Any:
    import torch._dynamo

    return torch._dynamo.config


def recompile_limit() -> int:
    """How many graphs dynamo keeps per compiled function before it runs the function eagerly.

    Raises:
        RuntimeError: If this torch's dynamo config has neither known name of the limit.
    """
    config = _dynamo_config()
    for name in _RECOMPILE_LIMIT_NAMES:
        if hasattr(config, name):
            return int(getattr(config, name))
    raise _missing("torch", "torch._dynamo.config.recompile_limit")


def set_recompile_limit(limit: int) -> None:
    """Set dynamo's per-function recompile limit (process-wide; both names where both exist)."""
    config = _dynamo_config()
    names = [n for n in _RECOMPILE_LIMIT_NAMES if hasattr(config, n)]
    if not names:
        raise _missing("torch", "torch._dynamo.config.recompile_limit")
    for name in names:
        setattr(config, name, int(limit))


def compile_limit_kwargs(limit: int) -> dict[str, Any]:
    """``torch.compile`` keyword arguments that give one compiled region its own recompile limit.

    torch 2.14 takes ``recompile_limit`` and ``isolate_recompiles`` per call: the region's graphs
    are its own, so neither another model of the same class nor an earlier run in the process
    counts against it. Older torch only has the process-wide limit, which is raised instead (and
    ``{}`` returned).
    """
    import inspect

    import torch

    params = inspect.signature(torch.compile).parameters
    if "recompile_limit" in params and "isolate_recompiles" in params:
        return {"recompile_limit": int(limit), "isolate_recompiles": True}
    set_recompile_limit(max(recompile_limit(), int(limit)))
    return {}


def compile_backend(name: str, mode: str) -> Callable[..., Any]:
    """The backend object ``torch.compile(backend=name, mode=mode, dynamic=False)`` would use.

    Calling it with ``(graph_module, example_inputs)`` compiles one graph, so a wrapper around it
    sees every graph that is compiled (``torch.compile`` accepts any such callable as ``backend``).
    For inductor this is the object that applies ``mode``; other backends take no mode.

    Raises:
        RuntimeError: If this torch lacks ``_TorchCompileInductorWrapper`` or ``_dynamo.lookup_backend``.
        ValueError: If ``name`` is not a registered backend, or a mode is given for another backend.
    """
    import torch
    import torch._dynamo

    if name == "inductor":
        wrapper = getattr(torch, "_TorchCompileInductorWrapper", None)
        if wrapper is None:
            raise _missing("torch", "_TorchCompileInductorWrapper")
        return wrapper(mode, None, False)
    if mode != "default":
        raise ValueError(f"compile mode {mode!r} needs the inductor backend, not {name!r}")
    lookup = getattr(torch._dynamo, "lookup_backend", None)
    if lookup is None:
        raise _missing("torch", "_dynamo.lookup_backend")
    try:
        return lookup(name)
    except Exception:  # noqa: BLE001 - torch raises its own InvalidBackend type
        raise ValueError(f"unknown torch.compile backend {name!r}; see torch._dynamo.list_backends()") from None

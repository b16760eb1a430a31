"""Every use of torch's and timm's internals, in one place, each behind a version check.

The package needs three things those libraries do not offer publicly:

* to change the magnitude of timm's RandAugment after it was built (its ``ops`` list and each
  op's ``magnitude``), which is how the curriculum's magnitude reaches the workers;
* to replace timm's posterize op, which asks Pillow 13 for 0 bits and makes it raise;
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

from typing import Any, Callable

__all__ = [
    "TESTED",
    "timm_randaugment_ops",
    "set_timm_op_magnitude",
    "shutdown_loader_workers",
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


def _posterize_any_bits(img: Any, bits_to_keep: int, **_: Any) -> Any:
    from PIL import Image, ImageOps

    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep)


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

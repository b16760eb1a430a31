"""Every use of torch's and timm's internals, in one place, each behind a version check.

The package needs three things those libraries do not offer publicly:

* to change the magnitude of timm's RandAugment after it was built (its ``ops`` list and each
  op's ``magnitude``), which is how the curriculum's magnitude reaches the workers;
* to replace timm's posterize op, which asks Pillow 13 for 0 bits and makes it raise;
* to stop a DataLoader's persistent workers on demand (``_iterator._shutdown_workers``), so that
  workers which ignore SIGTERM (on purpose: the main process saves a checkpoint first) still end.

Each function checks that the internal exists and raises a :class:`RuntimeError` that names the
tested versions when it does not, instead of failing somewhere deeper.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["TESTED", "timm_randaugment_ops", "set_timm_op_magnitude", "shutdown_loader_workers"]

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

"""Cost models: what a curriculum costs relative to training at the final size throughout.

The pure ones (:func:`pixel_cost`, :func:`token_cost`, :func:`curriculum_cost`) live with the
curricula (:mod:`efficienttrain.curricula.cost`) and are re-exported here; this module adds the
cost models that need a model or a device. The per-image cost functions of the input size ``B``:

* :func:`pixel_cost` (ConvNets): proportional to ``B^2``. The default EfficientTrain schedule costs
  0.653 of the baseline, a 1.53x speedup.
* :func:`token_cost` (ViTs): per-block FLOPs ``n * (12 d^2 + 2 n d)`` for ``n`` tokens of width
  ``d``: the linear layers plus attention's quadratic term. DeiT-Tiny/Small give the paper's
  1.59x/1.56x (Table 6).
* :func:`measured_cost`: the median time of a real training step of a timm model at each size on
  the current device.

:func:`training_flops` counts a model's FLOPs of one forward and backward pass per image at each
size with torch's FLOP counter: deterministic and machine-independent, the x-axis on which runs
that shared a machine can still be compared.

:func:`curriculum_cost` integrates any of them over a curriculum's stages.
"""

from __future__ import annotations

import statistics
import time
from typing import Optional, Sequence, Union

import torch

from .curricula.cost import CostFunction, CostReport, cost_between, curriculum_cost, pixel_cost, token_cost

__all__ = [
    "CostReport",
    "pixel_cost",
    "token_cost",
    "token_cost_for_model",
    "mae_token_cost_for_model",
    "measured_cost",
    "training_flops",
    "curriculum_cost",
    "cost_between",
    "get_cost_function",
    "COST_KINDS",
]

COST_KINDS = ("pixel", "tokens", "measured")


def token_cost_for_model(model: Union[str, torch.nn.Module]) -> CostFunction:
    """Build :func:`token_cost` with a timm ViT's patch size, width and prefix tokens.

    Args:
        model: A timm model name or an instantiated ViT-like model.

    Returns:
        A cost function of the size.

    Raises:
        ValueError: If the model has no patch embedding (not a ViT), or the name is unknown
            (:class:`~efficienttrain.errors.UserError`, with close matches).
    """
    if isinstance(model, str):
        from .models import create_model

        model = create_model(model, num_classes=10)
    patch_embed = getattr(model, "patch_embed", None)
    embed_dim = getattr(model, "embed_dim", None) or getattr(model, "num_features", None)
    if patch_embed is None or embed_dim is None:
        raise ValueError("the token cost model needs a ViT-style model with patch_embed; use --cost pixel or measured")
    patch = patch_embed.patch_size
    patch_size = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    dim = int(embed_dim)

    def cost(size: int) -> float:
        return token_cost(size, patch_size=patch_size, embed_dim=dim, num_prefix_tokens=prefix)

    return cost


def mae_token_cost_for_model(mae: torch.nn.Module) -> CostFunction:
    """Per-image cost of an :class:`~efficienttrain.mae.MAE` step at each size, from token counts.

    The encoder's blocks see the visible patches and the prefix tokens, the decoder's blocks all
    patches; each block costs :func:`token_cost`'s ``n * d * (12 d + 2 n)`` at its own width.

    Args:
        mae: The MAE model.

    Returns:
        A cost function of the size.
    """
    enc, dec = mae.encoder, mae.decoder
    patch, prefix = enc.patch_size, enc.num_prefix_tokens
    enc_depth, dec_depth = len(enc.vit.blocks), len(dec.blocks)

    def block(n: int, d: int) -> float:
        return float(n) * d * (12.0 * d + 2.0 * n)

    def cost(size: int) -> float:
        n = (size // patch) ** 2
        keep = min(max(int(round(n * (1.0 - mae.mask_ratio))), 1), n - 1)
        return enc_depth * block(keep + prefix, enc.embed_dim) + dec_depth * block(n + prefix, dec.dim)

    return cost


def measured_cost(
    model: Union[str, torch.nn.Module],
    sizes: Sequence[int],
    *,
    batch_size: int = 32,
    steps: int = 5,
    warmup: int = 2,
    device: Union[str, torch.device, None] = None,
    num_classes: int = 10,
    progress: bool = False,
) -> dict[int, float]:
    """Time a training step (forward, backward, SGD step) of a model at each size.

    Args:
        model: A timm model name (created with ``num_classes``) or a model.
        sizes: Input sizes to time.
        batch_size: Images per step.
        steps: Timed steps per size; the median is reported.
        warmup: Untimed steps per size first.
        device: Device (default: CUDA when available, else CPU).
        num_classes: Classes of a model created by name.
        progress: Print each measurement as it completes.

    Returns:
        Seconds per image for each size.
    """
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if isinstance(model, str):
        from .models import create_model

        model = create_model(model, num_classes=num_classes, img_size=max(sizes))
    model = model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    out: dict[int, float] = {}
    for size in sorted(set(int(s) for s in sizes)):
        x = torch.randn(batch_size, 3, size, size, device=dev)
        y = torch.randint(0, num_classes, (batch_size,), device=dev)
        times = []
        for i in range(warmup + steps):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        out[size] = statistics.median(times) / batch_size
        if progress:
            print(f"  measured B={size}: {out[size] * 1e3:.2f} ms/image", flush=True)
    return out


def training_flops(model: torch.nn.Module, sizes: Sequence[int], *, batch_size: int = 2, channels: int = 3) -> dict[int, float]:
    """FLOPs of one forward and one backward pass per image at each size, counted by torch.

    :class:`torch.utils.flop_counter.FlopCounterMode` counts the matrix products and convolutions
    (the work that scales with the input; element-wise operations are not counted). Attention is
    counted through PyTorch's math kernel of ``scaled_dot_product_attention``: the counter has no
    formula for the fused CPU kernel and would count a ViT's attention as zero. The model is
    left exactly as it was (:func:`~efficienttrain.dryrun.preserved_training_state`), so this can
    run on the model being trained, and the count does not depend on the machine or its load.

    Args:
        model: The model, in the mode it trains in; its output (or the first element of a tuple
            output, e.g. a loss) is summed and backpropagated.
        sizes: Input sizes.
        batch_size: Images per counted pass (the result is per image).
        channels: Input channels.

    Returns:
        FLOPs per image for each size.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from .dryrun import preserved_training_state

    device = next(model.parameters()).device
    out: dict[int, float] = {}
    for size in sorted(set(int(s) for s in sizes)):
        with preserved_training_state(model):
            x = torch.randn(batch_size, channels, size, size, device=device)
            with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
                y = model(x)
                y = y[0] if isinstance(y, (tuple, list)) else y
                y.float().sum().backward()
        out[size] = counter.get_total_flops() / batch_size
    return out


def get_cost_function(
    kind: str = "pixel",
    *,
    model: Union[str, torch.nn.Module, None] = None,
    sizes: Optional[Sequence[int]] = None,
    batch_size: int = 32,
    device: Union[str, torch.device, None] = None,
    progress: bool = False,
) -> CostFunction:
    """Return a per-image cost function by name.

    Args:
        kind: ``pixel``, ``tokens`` or ``measured``.
        model: timm model (name or module); required for ``tokens`` and ``measured``.
        sizes: Sizes to measure (``measured`` only).
        batch_size: Batch size for ``measured``.
        device: Device for ``measured``.
        progress: Print measurements as they complete.

    Returns:
        A function from size to per-image cost.

    Raises:
        ValueError: On an unknown kind or a missing model.
    """
    if kind == "pixel":
        return pixel_cost
    if kind not in COST_KINDS:
        raise ValueError(f"unknown cost model {kind!r}; choose one of {', '.join(COST_KINDS)}")
    if model is None:
        raise ValueError(f"the {kind!r} cost model needs a model (pass --model NAME)")
    if kind == "tokens":
        return token_cost_for_model(model)
    if not sizes:
        raise ValueError("the measured cost model needs the sizes to time")
    table = measured_cost(model, sizes, batch_size=batch_size, device=device, progress=progress)

    def cost(size: int) -> float:
        if size not in table:
            raise KeyError(f"size {size} was not measured; measured sizes are {sorted(table)}")
        return table[size]

    return cost

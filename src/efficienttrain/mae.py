"""Masked autoencoders (MAE, He et al. 2022) on any timm ViT, at every input size of a curriculum.

EfficientTrain only changes the inputs, so MAE pretraining takes the curriculum as it is (paper
Table 10): early epochs see smaller, low-frequency images, hence fewer patches. That needs an MAE
whose encoder and decoder accept any grid of patches, which is what this module provides:

* :class:`MAEEncoder` wraps a timm ``VisionTransformer`` built with ``dynamic_img_size=True``:
  it embeds the patches, adds the ViT's own position embedding resampled to the input's grid
  (timm's public ``resample_abs_pos_embed``), keeps the visible patches, and runs the ViT's
  blocks (the internals it needs are reached through :mod:`efficienttrain._compat`). Its ``vit``
  is an ordinary timm model: exporting it gives weights that
  ``efficienttrain train --init-from`` fine-tunes.
* :class:`MAEDecoder` is a light transformer (timm ``Block`` s) whose fixed sine-cosine position
  embedding (timm's ``build_sincos2d_pos_embed``) is built for each grid size.
* :func:`random_masking` keeps exactly ``round(N * (1 - ratio))`` patches of every image.
* :func:`mae_loss` is the mean squared error on the masked patches only, against per-patch
  normalised pixels (``norm_pix``).

Why not ``lightly``'s MAE modules: its decoder's position embedding is a fixed-size parameter
tied to one patch count, its ``patchify`` requires square images and its encoder guesses the grid
as ``sqrt(N)``; it would also add pytorch-lightning, hydra and pydantic as dependencies for about
150 lines of logic. So the ViT is timm's, and only the MAE-specific glue is here.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ._compat import vit_blocks, vit_patch_shape, vit_patch_tokens, vit_position_embedding, vit_prefix_tokens, vit_shape

__all__ = ["MAEEncoder", "MAEDecoder", "MAE", "random_masking", "patchify", "mae_loss", "vit_patch_size"]


def vit_patch_size(vit: nn.Module) -> int:
    """The (square) patch size of a timm ViT.

    Raises:
        ValueError: If the model is not a ViT with a square patch embedding.
    """
    p = vit_patch_shape(vit)
    if p is None:
        raise ValueError("MAE needs a timm ViT (a model with patch_embed and blocks), e.g. deit_tiny_patch16_224 or vit_small_patch16_224")
    if p[0] != p[1]:
        raise ValueError(f"MAE here needs square patches, the model has {p[0]}x{p[1]}")
    return int(p[0])


def random_masking(batch: int, num_patches: int, ratio: float, *, device: torch.device, generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Choose, per image, which patches stay visible.

    Exactly ``round(num_patches * (1 - ratio))`` patches (at least 1, at most ``num_patches - 1``)
    are kept in every image, chosen uniformly at random.

    Args:
        batch: Images.
        num_patches: Patches per image ``N``.
        ratio: Fraction of patches to mask.
        device: Device of the outputs.
        generator: Random generator (default: torch's global one).

    Returns:
        ``(ids_keep, ids_restore, mask)``: indices of the kept patches ``(B, K)``, the inverse
        permutation that restores patch order ``(B, N)``, and ``mask`` ``(B, N)`` with 1 for a
        masked patch.
    """
    keep = min(max(int(round(num_patches * (1.0 - ratio))), 1), num_patches - 1)
    noise = torch.rand(batch, num_patches, device=device, generator=generator)
    ids_shuffle = noise.argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    ids_keep = ids_shuffle[:, :keep]
    mask = torch.ones(batch, num_patches, device=device)
    mask[:, :keep] = 0
    return ids_keep, ids_restore, torch.gather(mask, 1, ids_restore)


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut ``(B, C, H, W)`` images into ``(B, N, patch * patch * C)`` rows, patches in row-major order."""
    b, c, h, w = images.shape
    gh, gw = h // patch, w // patch
    x = images.reshape(b, c, gh, patch, gw, patch)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(b, gh * gw, patch * patch * c)


def mae_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, norm_pix: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """Mean squared error over the masked patches only.

    Args:
        pred: Predicted patches ``(B, N, P)``.
        target: True patches ``(B, N, P)`` (from :func:`patchify`).
        mask: ``(B, N)``, 1 where the patch was masked.
        norm_pix: Normalise each target patch to zero mean and unit variance (MAE's default).
        eps: Added to the variance.

    Returns:
        The loss, a scalar (computed in float32).
    """
    pred, target = pred.float(), target.float()
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + eps).sqrt()
    per_patch = ((pred - target) ** 2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp_min(1.0)


class MAEEncoder(nn.Module):
    """The visible-patch encoder: a timm ViT that sees only the kept patches, at any grid size.

    Args:
        vit: A timm ``VisionTransformer`` built with ``dynamic_img_size=True``.

    Raises:
        ValueError: If ``vit`` is not a ViT this encoder can drive.
    """

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.patch_size = vit_patch_size(vit)
        shape = vit_shape(vit)
        if not shape.dynamic_img_size:
            raise ValueError("MAE needs the ViT built with dynamic_img_size=True (efficienttrain.create_model does this)")
        self.vit = vit
        self.embed_dim = shape.embed_dim
        self.num_prefix_tokens = shape.num_prefix_tokens
        self.has_class_token = shape.has_class_token

    def forward(self, images: torch.Tensor, ids_keep: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encode the kept patches (all of them when ``ids_keep`` is ``None``).

        Returns:
            ``(B, prefix + K, D)``: the prefix (class/register) tokens, then the kept patches.
        """
        x, grid = vit_patch_tokens(self.vit, images, self.patch_size)
        prefix_pos, patch_pos = vit_position_embedding(self.vit, grid, self.num_prefix_tokens)
        if patch_pos is not None:
            x = x + patch_pos
        if ids_keep is not None:
            x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        prefix = [t.expand(x.shape[0], -1, -1) for t in vit_prefix_tokens(self.vit)]
        if prefix:
            tokens = torch.cat(prefix, dim=1)
            if prefix_pos is not None:
                tokens = tokens + prefix_pos
            x = torch.cat([tokens, x], dim=1)
        return vit_blocks(self.vit, x)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """One vector per image from all patches: the class token, or the mean patch token without one."""
        x = self.forward(images)
        return x[:, 0] if self.has_class_token else x[:, self.num_prefix_tokens :].mean(dim=1)


class MAEDecoder(nn.Module):
    """A light transformer that predicts the pixels of every patch from the visible ones.

    Args:
        embed_dim: Width of the encoder's tokens.
        patch_size: Patch size (pixels per side).
        dim: Width of the decoder.
        depth: Transformer blocks.
        heads: Attention heads.
        num_prefix_tokens: Prefix tokens the encoder emits before the patches.
        in_chans: Image channels.
    """

    def __init__(self, embed_dim: int, patch_size: int, *, dim: int = 128, depth: int = 2, heads: int = 4, num_prefix_tokens: int = 1, in_chans: int = 3) -> None:
        super().__init__()
        from timm.models.vision_transformer import Block

        if dim % 4:
            raise ValueError(f"the decoder width must be a multiple of 4 (for its 2-D sine-cosine position embedding), got {dim}")
        self.dim = dim
        self.num_prefix_tokens = num_prefix_tokens
        self.embed = nn.Linear(embed_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.pred = nn.Linear(dim, patch_size * patch_size * in_chans)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, tokens: torch.Tensor, ids_restore: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Predict all ``N`` patches ``(B, N, patch * patch * C)`` from the encoded tokens."""
        from timm.layers import build_sincos2d_pos_embed

        x = self.embed(tokens)
        prefix, visible = x[:, : self.num_prefix_tokens], x[:, self.num_prefix_tokens :]
        n = ids_restore.shape[1]
        filler = self.mask_token.expand(x.shape[0], n - visible.shape[1], -1)
        patches = torch.cat([visible, filler], dim=1)
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, self.dim))
        pos = build_sincos2d_pos_embed(list(grid), dim=self.dim, device=x.device, dtype=x.dtype)
        x = torch.cat([prefix, patches + pos.unsqueeze(0)], dim=1)
        x = self.norm(self.blocks(x))
        return self.pred(x[:, self.num_prefix_tokens :])


class MAE(nn.Module):
    """Masked autoencoder: encoder on the visible patches, decoder on all, loss on the masked ones.

    Args:
        vit: A timm ViT built with ``dynamic_img_size=True`` (the encoder).
        mask_ratio: Fraction of patches masked (0.75 in MAE).
        decoder_dim: Decoder width.
        decoder_depth: Decoder blocks.
        decoder_heads: Decoder attention heads.
        norm_pix: Reconstruct per-patch normalised pixels.
    """

    def __init__(self, vit: nn.Module, *, mask_ratio: float = 0.75, decoder_dim: int = 128, decoder_depth: int = 2, decoder_heads: int = 4, norm_pix: bool = True) -> None:
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be between 0 and 1, got {mask_ratio}")
        self.encoder = MAEEncoder(vit)
        self.decoder = MAEDecoder(
            self.encoder.embed_dim, self.encoder.patch_size, dim=decoder_dim, depth=decoder_depth, heads=decoder_heads,
            num_prefix_tokens=self.encoder.num_prefix_tokens, in_chans=vit_shape(vit).in_chans,
        )  # fmt: skip
        self.mask_ratio = mask_ratio
        self.norm_pix = norm_pix

    @property
    def patch_size(self) -> int:
        """The encoder's patch size."""
        return self.encoder.patch_size

    def forward(self, images: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The reconstruction loss of a batch (masks drawn from ``generator``, or torch's global one).

        Raises:
            ValueError: If the image size is not a multiple of the patch size.
        """
        p = self.patch_size
        h, w = images.shape[-2:]
        if h % p or w % p:
            raise ValueError(f"MAE input {h}x{w} is not a multiple of the patch size {p}; round the sizes to multiples of {p}")
        grid = (h // p, w // p)
        ids_keep, ids_restore, mask = random_masking(images.shape[0], grid[0] * grid[1], self.mask_ratio, device=images.device, generator=generator)
        pred = self.decoder(self.encoder(images, ids_keep), ids_restore, grid)
        return mae_loss(pred, patchify(images, p), mask, norm_pix=self.norm_pix)

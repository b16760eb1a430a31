"""Training objectives: what a run optimises and what its evaluation means.

The loop (:mod:`efficienttrain.runner.loop`) is the same for every objective: the curriculum, the
sampler, the crop, checkpoints, resume, DDP, logging and errors. An :class:`Objective` supplies the
rest:

* the model (:meth:`~Objective.build_model`) and a check that it suits the objective;
* the training transform (:meth:`~Objective.train_transform`): the RandAugment magnitude of the
  curriculum reaches it through the sampler, so an objective without RandAugment follows only
  the size schedule;
* the loss of a batch (:meth:`~Objective.loss`), and Mixup/CutMix if it uses them;
* evaluation (:meth:`~Objective.evaluate`), whose ``top1`` is the run's headline metric;
* what to export at the end (:meth:`~Objective.export`).

:class:`Classification` is supervised training with the paper's recipe (the default);
:class:`MaskedAutoencoding` is MAE pretraining (paper Table 10). Objectives register in
:data:`OBJECTIVES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data.datasets import DatasetPair
from ..data.shrink import ShrinkPlan
from ..errors import UserError
from ..data.transforms import build_train_transform
from ..models import check_model_sizes, constructor_kwargs, create_model
from .distributed import Runtime
from .evaluate import evaluate_classifier

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["Objective", "Classification", "MaskedAutoencoding", "OBJECTIVES", "make_objective"]



@dataclass(frozen=True)
class EvalInputs:
    """What an objective's evaluation reads.

    Attributes:
        val_loader: This rank's shard of the validation split, at the final size.
        data: The datasets (MAE's k-NN monitor takes its bank from the training images).
        runtime: Device, ranks and AMP.
    """

    val_loader: DataLoader
    data: DatasetPair
    runtime: Runtime

class Objective:
    """Base class of training objectives (see the module docstring).

    Args:
        cfg: The run's config.
    """

    name = "objective"
    # Whether the training transform has RandAugment for the curriculum's magnitude to drive.
    uses_magnitude = True
    # How the epoch line names the "top1" metric.
    metric_label = "top1"
    # Config fields this objective never reads (the CLI says so when one is given).
    ignored_options: tuple[str, ...] = ()
    # Classes the training data needs: one class leaves a classifier nothing to learn.
    min_classes = 2

    def __init__(self, cfg: "TrainConfig") -> None:
        self.cfg = cfg
        self.mixup: Optional[Callable] = None
        self.criterion: Optional[nn.Module] = None

    def build_model(self, num_classes: int, final_size: int) -> nn.Module:
        """Create the model that is trained (and checkpointed)."""
        raise NotImplementedError

    def model_kwargs(self) -> dict[str, Any]:
        """Extra timm keyword arguments from the config (``--model-kwargs``, ``--patch-size``)."""
        return constructor_kwargs(self.cfg.model_kwargs, self.cfg.patch_size)

    def check_model(self, model: nn.Module, sizes: list[int], final_size: int, device: torch.device) -> None:
        """Fail early, with a :class:`~efficienttrain.errors.UserError`, if the model cannot train at ``sizes``."""
        check_model_sizes(model, sizes, final_size=final_size, device=device, model_name=self.cfg.model)

    def train_transform(self, final_size: int, norm: dict[str, Any], plan: ShrinkPlan) -> Callable:
        """The per-image training transform at the final size (the crop to ``B`` comes later, where ``plan`` says)."""
        raise NotImplementedError

    def setup(self, num_classes: int) -> None:
        """Build the loss (and Mixup/CutMix) once the number of classes is known."""

    def loss(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch (called under autocast)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, inputs: EvalInputs, should_stop: Optional[Callable[[], bool]] = None) -> dict[str, float]:
        """Evaluate ``model``; the result has at least ``top1`` and ``loss`` (and ``top5`` if meaningful).

        Raises:
            EvaluationStopped: If ``should_stop()`` turned true (checked before each batch).
        """
        raise NotImplementedError

    def export(self, model: nn.Module, run_dir: Any, metadata: dict[str, str], *, ema: bool = False) -> None:
        """Write the final weights (``--safetensors``)."""
        run_dir.export_weights(model.state_dict(), metadata, ema=ema)


class Classification(Objective):
    """Supervised classification with the paper's recipe: RandAugment, Mixup/CutMix, label smoothing."""

    name = "classification"

    def build_model(self, num_classes: int, final_size: int) -> nn.Module:
        cfg = self.cfg
        return create_model(cfg.model, num_classes, img_size=final_size, drop_path_rate=cfg.drop_path, pretrained=cfg.pretrained, **self.model_kwargs())

    def train_transform(self, final_size: int, norm: dict[str, Any], plan: ShrinkPlan) -> Callable:
        cfg = self.cfg
        return build_train_transform(
            final_size, randaugment=cfg.randaugment or None, scale=cfg.scale, hflip=cfg.hflip, re_prob=cfg.reprob, **norm, **plan.transform_options()
        )

    def setup(self, num_classes: int) -> None:
        from timm.data import Mixup
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

        cfg = self.cfg
        if (cfg.mixup > 0 or cfg.cutmix > 0) and cfg.mixup_prob > 0:
            self.mixup = Mixup(
                mixup_alpha=cfg.mixup,
                cutmix_alpha=cfg.cutmix,
                prob=cfg.mixup_prob,
                switch_prob=cfg.mixup_switch_prob,
                label_smoothing=cfg.smoothing,
                num_classes=num_classes,
            )
            self.criterion = SoftTargetCrossEntropy()
        elif cfg.smoothing > 0:
            self.criterion = LabelSmoothingCrossEntropy(cfg.smoothing)
        else:
            self.criterion = nn.CrossEntropyLoss()

    def loss(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        assert self.criterion is not None, "setup() builds the criterion"
        return self.criterion(model(images).float(), targets)

    def evaluate(self, model: nn.Module, inputs: EvalInputs, should_stop: Optional[Callable[[], bool]] = None) -> dict[str, float]:
        return evaluate_classifier(
            model, inputs.val_loader, inputs.runtime, inputs.data.num_classes, channels_last=self.cfg.channels_last, should_stop=should_stop
        )


class MaskedAutoencoding(Objective):
    """MAE pretraining of a timm ViT (:mod:`efficienttrain.mae`); labels are read only by the k-NN monitor.

    The training transform is a random-resized crop and a flip (no RandAugment), so only the
    curriculum's size schedule applies. Evaluation reports the k-NN top-1/top-5 of the encoder's
    frozen features (training images as the bank, validation images as queries) as ``top1`` and
    ``top5``, and the reconstruction loss on the validation images (fixed masks) as ``loss``. At
    the end the encoder alone is exported: ``model.safetensors`` is a plain timm ViT for
    ``--init-from``.
    """

    name = "mae"
    uses_magnitude = False
    metric_label = "k-NN top1"
    ignored_options = ("randaugment", "magnitude", "mixup", "cutmix", "mixup_prob", "mixup_switch_prob", "smoothing", "reprob")
    min_classes = 1  # labels are read by the k-NN monitor only: unlabelled images in one folder are fine

    def __init__(self, cfg: "TrainConfig") -> None:
        super().__init__(cfg)
        self._knn_loaders: Optional[tuple[Any, Any]] = None

    def build_model(self, num_classes: int, final_size: int) -> nn.Module:
        from ..mae import MAE

        cfg = self.cfg
        vit = create_model(cfg.model, 0, img_size=final_size, drop_path_rate=cfg.drop_path, pretrained=cfg.pretrained, **self.model_kwargs())
        try:
            return MAE(
                vit, mask_ratio=cfg.mask_ratio, decoder_dim=cfg.decoder_dim, decoder_depth=cfg.decoder_depth,
                decoder_heads=cfg.decoder_heads, norm_pix=cfg.norm_pix_loss,
            )  # fmt: skip
        except ValueError as err:  # the config has checked MAE's numbers: what is left is the model
            raise UserError(f"--model {cfg.model}: {err}") from None

    def check_model(self, model: nn.Module, sizes: list[int], final_size: int, device: torch.device) -> None:
        patch = model.patch_size
        bad = [s for s in [*sizes, final_size] if s % patch]
        if bad:
            fix = f"use --multiple-of {patch}" + (f" and a --final-size divisible by {patch}" if final_size % patch else "")
            raise UserError(f"--objective mae needs sizes that are multiples of the patch size {patch}; {bad[0]} is not: {fix}")
        small = min(sizes)
        if (small // patch) ** 2 < 4:
            raise UserError(f"size {small} gives {(small // patch) ** 2} patch(es) of {patch} px; MAE needs at least 2x2: raise --final-size or lower --patch-size")
        super().check_model(model, sizes, final_size, device)

    def train_transform(self, final_size: int, norm: dict[str, Any], plan: ShrinkPlan) -> Callable:
        cfg = self.cfg
        return build_train_transform(final_size, randaugment=None, scale=cfg.scale, hflip=cfg.hflip, re_prob=0.0, **norm, **plan.transform_options())

    def loss(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return model(images)

    def _loaders(self, inputs: EvalInputs) -> tuple[Any, Any]:
        """The k-NN bank (training images, eval transform, evenly spaced up to --knn-bank) and the queries."""
        if self._knn_loaders is None:
            from torch.utils.data import DataLoader, Subset

            from ..data.datasets import with_transform

            data, cfg = inputs.data, self.cfg
            bank = with_transform(data.train, getattr(data.val, "transform", None))
            n = len(bank)
            if cfg.knn_bank and cfg.knn_bank < n:
                bank = Subset(bank, [int(i * n / cfg.knn_bank) for i in range(cfg.knn_bank)])
            # Every rank evaluates the whole split, so all ranks report the same numbers without a collective.
            batch = cfg.resolved_eval_batch_size()
            self._knn_loaders = (DataLoader(bank, batch_size=batch, num_workers=0), DataLoader(data.val, batch_size=batch, num_workers=0))
        return self._knn_loaders

    @torch.no_grad()
    def evaluate(self, model: nn.Module, inputs: EvalInputs, should_stop: Optional[Callable[[], bool]] = None) -> dict[str, float]:
        from .evaluate import knn_accuracy, until_stopped

        runtime = inputs.runtime
        was_training = model.training
        model.eval()
        bank, queries = self._loaders(inputs)
        try:
            with runtime.autocast():
                metrics = knn_accuracy(model.encoder.features, bank, queries, runtime.device, inputs.data.num_classes, k=self.cfg.knn_k, should_stop=should_stop)
                gen = torch.Generator(device=runtime.device).manual_seed(0)  # the same masks every epoch
                losses = [float(model(images.to(runtime.device), generator=gen)) * len(images) for images, _ in until_stopped(queries, should_stop)]
        finally:
            model.train(was_training)
        return {**metrics, "loss": sum(losses) / max(len(queries.dataset), 1)}

    def export(self, model: nn.Module, run_dir: Any, metadata: dict[str, str], *, ema: bool = False) -> None:
        # The encoder is a plain timm ViT without a head: --init-from fine-tunes it.
        run_dir.export_weights(model.encoder.vit.state_dict(), {**metadata, "num_classes": "0", "objective": self.name}, ema=ema)


OBJECTIVES: dict[str, type[Objective]] = {"classification": Classification, "mae": MaskedAutoencoding}


def make_objective(cfg: "TrainConfig") -> Objective:
    """The objective named by ``cfg.objective``."""
    return OBJECTIVES[cfg.objective](cfg)

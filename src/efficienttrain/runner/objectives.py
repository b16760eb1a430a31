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

:class:`Classification` is supervised training with the paper's recipe (the default). Objectives
register in :data:`OBJECTIVES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch import nn

from ..data.transforms import build_train_transform
from ..models import check_model_sizes, create_model
from .evaluate import evaluate_classifier

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["Objective", "Classification", "OBJECTIVES", "make_objective"]


class Objective:
    """Base class of training objectives (see the module docstring).

    Args:
        cfg: The run's config.
    """

    name = "objective"

    def __init__(self, cfg: "TrainConfig") -> None:
        self.cfg = cfg
        self.mixup: Optional[Callable] = None
        self.criterion: Optional[nn.Module] = None

    def build_model(self, num_classes: int, final_size: int) -> nn.Module:
        """Create the model that is trained (and checkpointed)."""
        raise NotImplementedError


    def check_model(self, model: nn.Module, sizes: list[int], final_size: int, device: torch.device) -> None:
        """Fail early, with a :class:`~efficienttrain.errors.UserError`, if the model cannot train at ``sizes``."""
        check_model_sizes(model, sizes, final_size=final_size, device=device, model_name=self.cfg.model)

    def train_transform(self, final_size: int, norm: dict[str, Any]) -> Callable:
        """The per-image training transform at the final size (the crop to ``B`` comes later)."""
        raise NotImplementedError

    def setup(self, num_classes: int) -> None:
        """Build the loss (and Mixup/CutMix) once the number of classes is known."""

    def loss(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch (called under autocast)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, parts: Any) -> dict[str, float]:
        """Evaluate ``model``; the result has at least ``top1`` and ``loss`` (and ``top5`` if meaningful)."""
        raise NotImplementedError

    def export(self, model: nn.Module, run_dir: Any, metadata: dict[str, str], *, ema: bool = False) -> None:
        """Write the final weights (``--safetensors``)."""
        run_dir.export_weights(model.state_dict(), metadata, ema=ema)


class Classification(Objective):
    """Supervised classification with the paper's recipe: RandAugment, Mixup/CutMix, label smoothing."""

    name = "classification"

    def build_model(self, num_classes: int, final_size: int) -> nn.Module:
        cfg = self.cfg
        return create_model(cfg.model, num_classes, img_size=final_size, drop_path_rate=cfg.drop_path, pretrained=cfg.pretrained)

    def train_transform(self, final_size: int, norm: dict[str, Any]) -> Callable:
        cfg = self.cfg
        return build_train_transform(final_size, randaugment=cfg.randaugment or None, scale=cfg.scale, hflip=cfg.hflip, re_prob=cfg.reprob, **norm)

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

    def evaluate(self, model: nn.Module, parts: Any) -> dict[str, float]:
        return evaluate_classifier(model, parts.val_loader, parts.runtime, parts.data.num_classes, channels_last=self.cfg.channels_last)


OBJECTIVES: dict[str, type[Objective]] = {"classification": Classification}


def make_objective(cfg: "TrainConfig") -> Objective:
    """The objective named by ``cfg.objective``."""
    return OBJECTIVES[cfg.objective](cfg)

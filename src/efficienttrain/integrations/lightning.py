"""PyTorch Lightning integration: the EfficientTrain curriculum as a Trainer callback.

Build the training DataLoader with the library's sampler and dataset wrapper, add the callback,
and train as usual::

    import lightning.pytorch as pl
    import efficienttrain as et
    from efficienttrain.integrations.lightning import EfficientTrainCallback

    curriculum = et.efficienttrain(epochs=100, final_size=224)

    class Model(pl.LightningModule):
        def train_dataloader(self):
            train_set = et.CurriculumDataset(ImageFolder(root, transform=et.build_train_transform(224)))
            sampler = et.CurriculumBatchSampler(train_set, curriculum, batch_size=128)
            return DataLoader(train_set, batch_sampler=sampler, num_workers=8, persistent_workers=True)
        ...

    trainer = pl.Trainer(max_epochs=curriculum.num_epochs, use_distributed_sampler=False,
                         callbacks=[EfficientTrainCallback(curriculum)])

The callback

* positions the :class:`~efficienttrain.CurriculumBatchSampler` on the right epoch (and batch, when
  resuming) *before* Lightning creates each epoch's data iterator, so the RandAugment magnitude
  that travels inside the sampler's keys reaches every worker, persistent or not;
* crops every training batch to the curriculum's size in ``on_train_batch_start``, on the device,
  before ``training_step`` sees it (the batch container is modified in place);
* logs ``efficienttrain/size`` and ``efficienttrain/magnitude``;
* saves the curriculum and the sampler position in Lightning checkpoints and restores them when
  ``Trainer.fit(..., ckpt_path=...)`` resumes, at an epoch boundary or in the middle of an epoch.

Lightning hook order matters here: the data iterator of the first epoch is created in
``FitLoop.setup_data`` before any callback hook runs, and (in Lightning 2.x) the iterator of a later
epoch is created when the epoch loop starts. So the sampler is moved to epoch ``e + 1`` in
``on_train_epoch_end`` of epoch ``e``; a fresh sampler is already at epoch 0; and on resume, when
the position is only known after Lightning built the loader, the callback re-creates the iterator
once in ``on_train_start`` (through the fit loop's data fetcher, as Lightning itself does at
every epoch start).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any, Optional, Union

import torch

try:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.utilities import rank_zero_warn
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("efficienttrain.integrations.lightning needs Lightning: pip install 'efficienttrain[lightning]'") from err

from ..api import find_curriculum_sampler
from ..curricula import Curriculum, Settings
from ..data.sampler import CurriculumBatchSampler, SamplerState
from ..data.shrink import ShrinkPlan, shrink_batch
from . import _lightning_compat as _compat

__all__ = ["EfficientTrainCallback"]

_DDP_HINT = (
    "pass use_distributed_sampler=False to the Trainer: the CurriculumBatchSampler shards the data over the "
    "DDP processes itself, and Lightning cannot replace it with a DistributedSampler"
)


class EfficientTrainCallback(Callback):
    """Run the EfficientTrain curriculum inside ``lightning.pytorch.Trainer.fit``.

    The training DataLoader must use ``batch_sampler=CurriculumBatchSampler(...)`` over a
    :class:`~efficienttrain.CurriculumDataset`; the Trainer needs
    ``max_epochs <= curriculum.num_epochs`` (normally equal) and, under DDP,
    ``use_distributed_sampler=False``.

    Args:
        curriculum: The curriculum. ``None`` takes the sampler's; when given, it must equal the
            sampler's (a mismatch raises at the start of training).
        crop_op: ``lowfreq`` (the paper's low-frequency crop) or a down-sampling mode for
            ablations (see :func:`efficienttrain.crop_batch`); ``None`` (the default) takes the
            operator of the sampler's :class:`~efficienttrain.data.ShrinkPlan`. Where that plan
            shrinks in the workers, they crop and the callback passes batches through.
        image_key: Where the images are in a batch: an index for list/tuple batches (default
            ``0``, as in ``(images, targets)``) or a key for dict batches.
        log: Log ``efficienttrain/size`` and ``efficienttrain/magnitude`` every step.
        prog_bar: Also show them in the progress bar.
    """

    def __init__(
        self,
        curriculum: Optional[Curriculum] = None,
        crop_op: Optional[str] = None,
        *,
        image_key: Union[int, str] = 0,
        log: bool = True,
        prog_bar: bool = False,
    ) -> None:
        super().__init__()
        self.curriculum = curriculum
        self.crop_op = crop_op
        self.image_key = image_key
        self.log_settings = log
        self.prog_bar = prog_bar
        self.sampler: Optional[CurriculumBatchSampler] = None
        # Position of the next batch to train on: what a checkpoint written now resumes from.
        self._position: tuple[int, int] = (0, 0)
        self._loaded: Optional[dict[str, Any]] = None
        # batch_idx that the next batch must have, checked once after every (re)positioning.
        self._expect_batch_idx: Optional[int] = None

    # -- checks --------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Fail early on a Trainer configuration the curriculum cannot work with.

        Args:
            trainer: The Trainer.
            pl_module: The LightningModule.
            stage: ``fit``, ``validate``, ...; only ``fit`` is checked.

        Raises:
            ValueError: If the run is distributed and Lightning would inject a distributed sampler,
                or ``max_epochs`` exceeds the curriculum.
        """
        if stage != "fit":
            return
        _compat.check_version(pl.__version__)
        if _compat.uses_distributed_sampler(trainer):
            # Otherwise Lightning fails later, in setup_data, when it re-instantiates the batch
            # sampler around a DistributedSampler: "CurriculumBatchSampler.__init__() missing 1
            # required positional argument: 'curriculum'", which does not say what to change.
            raise ValueError(f"EfficientTrainCallback: {_DDP_HINT}")
        if self.curriculum is not None:
            self._check_max_epochs(trainer, self.curriculum)

    @staticmethod
    def _check_max_epochs(trainer: pl.Trainer, curriculum: Curriculum) -> None:
        max_epochs = trainer.max_epochs
        if max_epochs is None or max_epochs < 0 or max_epochs > curriculum.num_epochs:
            raise ValueError(
                f"EfficientTrainCallback: Trainer(max_epochs={max_epochs}) runs past the curriculum; "
                f"use max_epochs=curriculum.num_epochs ({curriculum.num_epochs})"
            )

    def _attach(self, trainer: pl.Trainer) -> CurriculumBatchSampler:
        """Find the training loader's curriculum sampler and check it against the Trainer."""
        sampler = _find_sampler(trainer.train_dataloader)
        if self.curriculum is None:
            self.curriculum = sampler.curriculum
        elif sampler.curriculum.to_dict() != self.curriculum.to_dict():
            raise ValueError(
                "EfficientTrainCallback: the callback's curriculum differs from the CurriculumBatchSampler's; "
                "pass the same Curriculum to both (or omit it in the callback)"
            )
        self._check_max_epochs(trainer, self.curriculum)
        if sampler.growth.active:
            # Lightning steps the LR scheduler once per update and neither scales a grown batch's
            # rate nor checkpoints the grown batches: the run would train at the wrong rate.
            raise ValueError(
                "EfficientTrainCallback: the CurriculumBatchSampler grows its early batches (set_growth), which this callback "
                "does not support (the lr would not follow the grown batches); drop set_growth, or use efficienttrain train "
                "--batch-growth or your own loop (docs/drop-in.md)"
            )
        index_sampler = sampler.index_sampler
        if index_sampler.num_replicas != trainer.world_size or index_sampler.rank != trainer.global_rank:
            raise ValueError(
                f"EfficientTrainCallback: the CurriculumBatchSampler shards for {index_sampler.num_replicas} process(es) "
                f"as rank {index_sampler.rank}, but this Trainer runs {trainer.world_size} as rank {trainer.global_rank}; "
                "build the DataLoader inside train_dataloader() (the process group exists by then) or pass "
                "num_replicas=trainer.world_size, rank=trainer.global_rank to the sampler"
            )
        self.sampler = sampler
        return sampler

    def _plan(self, sampler: CurriculumBatchSampler) -> ShrinkPlan:
        """The sampler's plan, with this callback's operator when one was given."""
        return sampler.plan if self.crop_op is None else dataclasses.replace(sampler.plan, op=self.crop_op)

    # -- positioning the sampler -----------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Put the sampler where this run starts (epoch 0, or the resumed position).

        Args:
            trainer: The Trainer.
            pl_module: The LightningModule.

        Raises:
            ValueError: If the sampler does not fit the callback or the Trainer (curriculum, sharding).
        """
        sampler = self._attach(trainer)
        epoch, step = self._start_position(trainer, sampler)
        if (sampler.epoch, sampler.start_step) != (epoch, step):
            sampler.set_epoch(epoch, step)
            # Lightning already iterated the loader (in FitLoop.setup_data) at the old position.
            _restart_train_iterator(trainer, sampler, epoch, step)
        self._position = (epoch, step)
        self._expect_batch_idx = step

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Re-find the sampler (the loader may have been reloaded) and check its epoch.

        Args:
            trainer: The Trainer.
            pl_module: The LightningModule.
        """
        sampler = self._attach(trainer)
        epoch = trainer.current_epoch
        if (sampler.epoch, sampler.start_step) != (epoch, 0):
            # Only a freshly reloaded loader (reload_dataloaders_every_n_epochs) gets here; its
            # iterator for this epoch is created after this hook, when the epoch loop starts.
            sampler.set_epoch(epoch, 0)
        self._position = (epoch, 0)
        self._expect_batch_idx = 0

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Move the sampler to the next epoch before Lightning creates its iterator.

        Args:
            trainer: The Trainer.
            pl_module: The LightningModule.
        """
        next_epoch = trainer.current_epoch + 1
        self._position = (next_epoch, 0)
        self._expect_batch_idx = 0
        if self.sampler is not None and self.curriculum is not None and next_epoch < self.curriculum.num_epochs:
            self.sampler.set_epoch(next_epoch, 0)

    # -- per batch -------------------------------------------------------------------------------
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        """Crop the batch to the curriculum's size (in place) and log the settings.

        Args:
            trainer: The Trainer.
            pl_module: The LightningModule.
            batch: The batch, already on the device; its images are replaced in place.
            batch_idx: Index of the batch in the epoch.

        Raises:
            RuntimeError: If Lightning's batch numbering and the sampler's position disagree.
        """
        sampler = self.sampler
        if sampler is None:  # pragma: no cover - on_train_start always runs first
            sampler = self._attach(trainer)
        if self._expect_batch_idx is not None:
            if batch_idx != self._expect_batch_idx:
                raise RuntimeError(
                    f"EfficientTrainCallback: Lightning's batch {batch_idx} of epoch {trainer.current_epoch} is batch "
                    f"{self._expect_batch_idx} of the CurriculumBatchSampler; the data and the curriculum are out of step "
                    "(was the sampler's set_epoch called by other code?)"
                )
            self._expect_batch_idx = None
        settings = sampler.settings(trainer.current_epoch, batch_idx)
        images = self._images(batch)
        shrunk = shrink_batch(self._plan(sampler), images, settings)
        if shrunk is not images:
            self._replace_images(batch, images, shrunk)
        if self.log_settings:
            self._log(pl_module, settings, images.shape[0])

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Record the position of the next batch (what a checkpoint saved now resumes from).

        Args:
            trainer: The Trainer.
            pl_module: The LightningModule.
            outputs: What training_step returned.
            batch: The batch.
            batch_idx: Index of the batch in the epoch.
        """
        self._position = (trainer.current_epoch, batch_idx + 1)

    def _log(self, pl_module: pl.LightningModule, settings: Settings, batch_size: int) -> None:
        # The values are the same on every rank, so there is nothing to reduce.
        common = {"on_step": True, "on_epoch": False, "prog_bar": self.prog_bar, "batch_size": batch_size, "rank_zero_only": True}
        pl_module.log("efficienttrain/size", float(settings.size), **common)
        pl_module.log("efficienttrain/magnitude", float(settings.magnitude), **common)

    def _images(self, batch: Any) -> torch.Tensor:
        if isinstance(batch, torch.Tensor):
            return batch
        try:
            images = batch[self.image_key]
        except (KeyError, IndexError, TypeError) as err:
            raise TypeError(
                f"EfficientTrainCallback: cannot read the images as batch[{self.image_key!r}] from a {type(batch).__name__}; "
                "set image_key to their index or key"
            ) from err
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            raise TypeError(
                f"EfficientTrainCallback: batch[{self.image_key!r}] must be an (N, C, H, W) tensor, got {type(images).__name__}"
            )
        return images

    def _replace_images(self, batch: Any, old: torch.Tensor, new: torch.Tensor) -> None:
        if new is old:
            return
        # training_step receives this very container, so the crop has to happen in place.
        if isinstance(batch, (MutableSequence, MutableMapping)):
            batch[self.image_key] = new
        else:
            # Tuples (and a bare tensor) cannot take a new element: re-point the tensor instead.
            _compat.replace_tensor_in_place(old, new)

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The curriculum and the position of the next batch, saved in Lightning checkpoints.

        Returns:
            ``{"curriculum": ..., "sampler": {"epoch", "start_step", "seed"}, "num_replicas": ...}``.
        """
        epoch, step = self._position
        sampler = self.sampler
        return {
            "curriculum": self.curriculum.to_dict() if self.curriculum is not None else None,
            "sampler": SamplerState(epoch, step, sampler.seed if sampler is not None else None).to_dict(),
            "num_replicas": sampler.index_sampler.num_replicas if sampler is not None else None,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the state of a checkpoint; the sampler is positioned when training starts.

        Args:
            state_dict: What :meth:`state_dict` returned.

        Raises:
            ValueError: If the checkpoint was made with a different curriculum.
        """
        saved = state_dict.get("curriculum")
        if saved is not None:
            if self.curriculum is not None and saved != self.curriculum.to_dict():
                raise ValueError(
                    "EfficientTrainCallback: the checkpoint was made with a different curriculum; resume with the original one "
                    f"(saved: {saved})"
                )
            if self.curriculum is None:
                self.curriculum = Curriculum.from_dict(saved)
        self._loaded = dict(state_dict)

    def _start_position(self, trainer: pl.Trainer, sampler: CurriculumBatchSampler) -> tuple[int, int]:
        """Where this fit starts: Lightning's epoch, and the saved batch if it is in that epoch."""
        epoch = trainer.current_epoch
        loaded, self._loaded = self._loaded, None
        if not loaded or not loaded.get("sampler"):
            return epoch, 0
        pos = SamplerState.from_dict(loaded["sampler"])
        saved_epoch, step = pos.epoch, pos.start_step
        if step >= sampler.batches_in_epoch(saved_epoch):  # saved after the last batch of an epoch
            saved_epoch, step = saved_epoch + 1, 0
        if pos.seed is not None and pos.seed != sampler.seed:
            rank_zero_warn(
                f"EfficientTrainCallback: the checkpoint's sampler seed {pos.seed} replaces this sampler's seed {sampler.seed}, "
                "so that the resumed epochs see the same order"
            )
            sampler.set_seed(pos.seed)
        if saved_epoch != epoch:
            rank_zero_warn(
                f"EfficientTrainCallback: the checkpoint's sampler position (epoch {saved_epoch}) differs from Lightning's "
                f"(epoch {epoch}); starting epoch {epoch} from its first batch"
            )
            return epoch, 0
        replicas = loaded.get("num_replicas")
        if step and replicas is not None and int(replicas) != sampler.index_sampler.num_replicas:
            raise ValueError(
                f"EfficientTrainCallback: the checkpoint was saved mid-epoch with {replicas} process(es), this run has "
                f"{sampler.index_sampler.num_replicas}; resume with the same number, or from an end-of-epoch checkpoint"
            )
        return epoch, step


def _find_sampler(loaders: Any) -> CurriculumBatchSampler:
    """The first CurriculumBatchSampler among the training loader(s) Lightning holds."""
    if loaders is None:
        raise TypeError("EfficientTrainCallback: the Trainer has no training DataLoader")
    pending = [loaders]
    while pending:
        item = pending.pop(0)
        if hasattr(item, "batch_sampler") or isinstance(item, CurriculumBatchSampler):
            try:
                return find_curriculum_sampler(item)
            except TypeError:
                continue
        if isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            pending.extend(item)
    raise TypeError(
        "EfficientTrainCallback: the training DataLoader has no CurriculumBatchSampler; build it as "
        "DataLoader(CurriculumDataset(ds), batch_sampler=CurriculumBatchSampler(...), ...)"
    )


def _restart_train_iterator(trainer: pl.Trainer, sampler: CurriculumBatchSampler, epoch: int, step: int) -> None:
    """Re-create the training data iterator after the sampler moved (see :mod:`._lightning_compat`)."""
    limit = trainer.num_training_batches
    full = sampler.batches_in_epoch(epoch)
    length = (int(min(full, limit)) if limit != float("inf") else full) if step else None
    if not _compat.restart_train_iterator(trainer, length, pl.__version__):
        raise RuntimeError(
            f"EfficientTrainCallback: cannot restart the data iterator at epoch {epoch}, batch {step} with this Lightning "
            f"version ({pl.__version__}); resume from an end-of-epoch checkpoint with a sampler built at that epoch "
            "(sampler.set_epoch(epoch) inside train_dataloader())"
        )

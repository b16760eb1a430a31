"""The recipe runner: one process trains a timm model through a whole curriculum.

The loop is built on the public drop-in API (:class:`~efficienttrain.data.CurriculumBatchSampler`,
:class:`~efficienttrain.data.CurriculumDataset`, :func:`~efficienttrain.api.crop_batch`) and on timm
for the optimizer, the cosine schedule, Mixup/CutMix, the losses and EMA. There is one learning-rate
schedule over all steps of the curriculum, so nothing restarts when the input size changes.

Everything that can be wrong with the user's input is checked in :meth:`Trainer.setup`, before the
output directory is touched.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib
import json
import math
import os
import random
import signal
import sys
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..api import crop_batch
from ..cost import cost_between, curriculum_cost, pixel_cost
from ..curriculum import Curriculum, Stage, create_curriculum
from ..data.datasets import DatasetPair, build_datasets, dataset_stats
from ..data.sampler import CurriculumBatchSampler, CurriculumDataset
from ..data.transforms import build_eval_transform, build_train_transform
from ..errors import UserError
from ..models import check_model_sizes, create_model
from ..provenance import SessionClock
from .checkpoint import capture_rng, export_safetensors, load_checkpoint, load_weights, restore_rng, save_checkpoint
from .config import TrainConfig
from .logger import MetricsLogger, format_summary

__all__ = ["Trainer", "RunResult", "train"]


@dataclass
class RunResult:
    """What a finished (or stopped) run reports.

    Attributes:
        output_dir: Where logs and checkpoints are.
        history: One dict of metrics per epoch.
        final_top1: Top-1 accuracy (%) after the last epoch.
        best_top1: Best top-1 accuracy (%) over epochs.
        train_time: Training wall time in seconds, evaluation excluded.
        total_time: Wall time including evaluation.
        completed: Whether the curriculum ran to its end.
        bad_images: Corrupt images skipped.
        summary: The summary dict written to ``summary.json``.
    """

    output_dir: Path
    history: list[dict[str, Any]]
    final_top1: float
    best_top1: float
    train_time: float
    total_time: float
    completed: bool
    bad_images: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


def _parse_m0(randaugment: str) -> float:
    for part in randaugment.split("-")[1:]:
        if part.startswith("m") and not part.startswith("mstd") and not part.startswith("mmax"):
            try:
                return float(part[1:])
            except ValueError:
                break
    return 9.0


class _StopRequested(Exception):
    pass


class Trainer:
    """Train a model through a curriculum according to a :class:`TrainConfig`.

    Typical use::

        trainer = Trainer(TrainConfig(model="resnet18", epochs=30, data="demo"))
        result = trainer.run()

    Args:
        config: The run configuration.
        log: Where progress lines go (default: stdout, rank 0 only).
    """

    def __init__(self, config: TrainConfig, log: Optional[Callable[[str], None]] = None) -> None:
        self.cfg = config.validate()
        self._log_fn = log
        self._stop_signal: Optional[int] = None
        self._set_up = False
        # Provenance: the sessions of earlier processes (from the checkpoint) and this one's clock.
        self._sessions_before: list[dict[str, Any]] = []
        self._clock: Optional[SessionClock] = None

    # -- runtime ----------------------------------------------------------------------------
    def _init_runtime(self) -> None:
        cfg = self.cfg
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if cfg.device == "auto":
            device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
        else:
            device = torch.device(cfg.device)
            if device.type == "cuda" and not torch.cuda.is_available():
                raise UserError("--device cuda was requested but no CUDA device is available; use --device cpu")
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", local_rank)
        self.device = device
        if self.world_size > 1 and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                torch.cuda.set_device(device)
            dist.init_process_group(backend=backend)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        amp = cfg.amp
        if amp == "auto":
            if device.type == "cuda":
                amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            else:
                amp = "none"
        self.amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
        self.is_main = self.rank == 0

    def log(self, msg: str) -> None:
        """Print a line on rank 0."""
        if not self.is_main:
            return
        if self._log_fn is not None:
            self._log_fn(msg)
        else:
            print(msg, flush=True)

    # -- setup (validation first, then building) ---------------------------------------------
    def setup(self) -> "Trainer":
        """Validate the inputs and build data, model, curriculum and optimisation.

        Raises:
            UserError: On any problem with the data, model, sizes, config or output directory.
        """
        if self._set_up:
            return self
        cfg = self.cfg
        self._init_runtime()
        out = cfg.output_dir()
        self.out_dir = out
        ckpt_path = out / "last.pt"
        self.resume_state: Optional[dict[str, Any]] = None
        if cfg.resume:
            if not ckpt_path.is_file():
                raise UserError(f"--resume: no checkpoint at {ckpt_path}; start without --resume or point --output to the run")
            self.resume_state = load_checkpoint(ckpt_path)
        elif ckpt_path.exists():
            raise UserError(f"{out} already holds a checkpoint; pass --resume to continue it, or choose another --output")
        # Seed every generator the main process draws from: torch (init, drop-path), NumPy (timm's
        # Mixup/CutMix) and Python's random.
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % (1 << 32))
        torch.manual_seed(cfg.seed)

        # Curriculum and sizes.
        m0 = _parse_m0(cfg.randaugment) if cfg.randaugment else 9.0
        self.curriculum = self._build_curriculum(m0)
        final_size = self.curriculum.final_size
        self.final_size = final_size

        # Data.
        stats = dataset_stats(cfg.data)
        norm = {"mean": stats[0], "std": stats[1]} if stats else {}
        train_tf = build_train_transform(
            final_size, randaugment=cfg.randaugment or None, scale=cfg.scale, hflip=cfg.hflip, re_prob=cfg.reprob, **norm
        )
        eval_tf = build_eval_transform(final_size, crop_pct=cfg.resolved_crop_pct(final_size), **norm)
        self.data: DatasetPair = build_datasets(
            cfg.data,
            train_transform=train_tf,
            eval_transform=eval_tf,
            data_root=cfg.data_root,
            download=cfg.download,
            preload=cfg.preload,
            preload_max_size=cfg.preload_max_size,
            skip_bad_images=cfg.skip_bad_images,
            demo_per_class=cfg.demo_per_class,
            demo_val_per_class=cfg.demo_val_per_class,
            demo_image_size=cfg.demo_image_size,
            seed=cfg.seed,
            val_split=cfg.val_split,
            progress=self._progress_enabled(),
        )
        if len(self.data.train) < cfg.batch_size * self.world_size:
            raise UserError(
                f"the training set has {len(self.data.train)} images, fewer than one batch of {cfg.batch_size} per process; lower --batch-size"
            )

        # Model, and the check that it takes every size of the schedule.
        self.model = create_model(cfg.model, self.data.num_classes, img_size=final_size, drop_path_rate=cfg.drop_path, pretrained=cfg.pretrained)
        if cfg.init_from and self.resume_state is None:
            fresh = load_weights(self.model, cfg.init_from)
            self.log(f"initialised from {cfg.init_from}" + (f" (re-initialised: {', '.join(fresh[:4])}{'...' if len(fresh) > 4 else ''})" if fresh else ""))
        self.model.to(self.device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        check_model_sizes(self.model, self.curriculum.sizes, final_size=final_size, device=self.device, model_name=cfg.model)
        if cfg.tensorboard and self.is_main:
            try:
                importlib.import_module("torch.utils.tensorboard")
            except ImportError:
                raise UserError("--tensorboard needs the tensorboard package: pip install tensorboard (or efficienttrain[tensorboard])") from None

        self._build_loaders()
        self._build_optimisation()
        self._set_up = True
        return self

    def _build_curriculum(self, m0: float) -> Curriculum:
        cfg = self.cfg
        kind = cfg.curriculum
        from_file = kind.lower().endswith((".yaml", ".yml", ".json")) or Path(kind).is_file()
        # A curriculum file keeps its own length and final size unless --epochs/--final-size
        # are given (then it is rescaled); the named curricula default to 300 epochs and the
        # data's final size.
        epochs = cfg.epochs if (cfg.epochs is not None or from_file) else 300.0
        final_size = cfg.final_size if from_file else cfg.resolved_final_size()
        try:
            cur = create_curriculum(
                kind,
                epochs,
                final_size,
                multiple_of=cfg.multiple_of,
                family=cfg.etpp_family,
                model=cfg.model,
                max_magnitude=m0,
            )
        except FileNotFoundError as err:
            raise UserError(str(err)) from None
        except ValueError as err:
            raise UserError(f"--curriculum: {err}") from None
        if cfg.magnitude:
            cur = Curriculum(
                [Stage(s.start, s.end, s.size) for s in cur.stages],
                final_size=cur.final_size,
                magnitude=cfg.magnitude,
                max_magnitude=m0,
                name=f"{cur.name} (magnitude {cfg.magnitude})",
                budget=cur.budget,
            )
        return cur

    def _build_loaders(self) -> None:
        cfg = self.cfg
        workers = cfg.resolved_workers()
        self.train_set = CurriculumDataset(self.data.train, crop_op=cfg.crop_op)
        self.sampler = CurriculumBatchSampler(
            self.train_set,
            self.curriculum,
            cfg.batch_size,
            shuffle=True,
            drop_last=True,
            seed=cfg.seed,
            num_replicas=self.world_size,
            rank=self.rank,
            crop_in_workers=cfg.crop_in_workers,
        )
        common: dict[str, Any] = {"num_workers": workers, "pin_memory": self.device.type == "cuda"}
        if workers > 0:
            common["persistent_workers"] = cfg.persistent_workers
            common["worker_init_fn"] = ignore_stop_signals
        # Private generators keep the loaders from drawing their workers' base seed from the global
        # RNG: with persistent workers that draw happens once per run, at a point that differs
        # between an uninterrupted and a resumed run, and would shift the global stream.
        self.train_loader = DataLoader(self.train_set, batch_sampler=self.sampler, generator=torch.Generator().manual_seed(cfg.seed), **common)
        val = self.data.val
        if self.world_size > 1:
            val = Subset(val, list(range(self.rank, len(val), self.world_size)))
        self.val_loader = DataLoader(val, batch_size=cfg.batch_size * 2, shuffle=False, generator=torch.Generator().manual_seed(cfg.seed), **common)
        if workers > 0:
            _LOADERS.add(self.train_loader)
            _LOADERS.add(self.val_loader)

    def _build_optimisation(self) -> None:
        from timm.data import Mixup
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
        from timm.optim import create_optimizer_v2
        from timm.scheduler import CosineLRScheduler
        from timm.utils import ModelEmaV3

        cfg = self.cfg
        self.lr = cfg.resolved_lr(self.world_size)
        kwargs: dict[str, Any] = {"betas": tuple(cfg.opt_betas)} if cfg.opt in ("adamw", "adam", "lamb") else {"momentum": 0.9}
        if cfg.opt in ("adamw", "adam"):
            # The fused kernel updates all parameters in one pass. Measured on a 2-core CPU for
            # resnet18: 6.7 ms per step instead of 34 ms, about 8% of a 64-px training step.
            kwargs["fused"] = True
        try:
            self.optimizer = create_optimizer_v2(self.model, opt=cfg.opt, lr=self.lr, weight_decay=cfg.weight_decay, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            kwargs.pop("fused", None)
            self.optimizer = create_optimizer_v2(self.model, opt=cfg.opt, lr=self.lr, weight_decay=cfg.weight_decay, **kwargs)
        # An update happens every accum_steps batches and at the end of every epoch.
        self.total_updates = sum(math.ceil(self.sampler.batches_in_epoch(e) / cfg.accum_steps) for e in range(self.curriculum.num_epochs))
        steps_per_epoch = math.ceil(self.sampler.steps_per_epoch / cfg.accum_steps)
        warmup_updates = int(round(cfg.resolved_warmup(self.curriculum.epochs) * steps_per_epoch))
        self.scheduler = CosineLRScheduler(
            self.optimizer,
            t_initial=self.total_updates,
            lr_min=cfg.min_lr,
            warmup_t=min(warmup_updates, self.total_updates - 1),
            warmup_lr_init=cfg.warmup_lr,
            t_in_epochs=False,
        )
        use_mix = (cfg.mixup > 0 or cfg.cutmix > 0) and cfg.mixup_prob > 0
        self.mixup = (
            Mixup(
                mixup_alpha=cfg.mixup,
                cutmix_alpha=cfg.cutmix,
                prob=cfg.mixup_prob,
                switch_prob=cfg.mixup_switch_prob,
                label_smoothing=cfg.smoothing,
                num_classes=self.data.num_classes,
            )
            if use_mix
            else None
        )
        if use_mix:
            self.criterion: nn.Module = SoftTargetCrossEntropy()
        elif cfg.smoothing > 0:
            self.criterion = LabelSmoothingCrossEntropy(cfg.smoothing)
        else:
            self.criterion = nn.CrossEntropyLoss()
        self.ema = ModelEmaV3(self.model, decay=cfg.ema_decay) if cfg.ema else None
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 and self.device.type == "cuda" else None
        self.train_model: nn.Module = self.model
        if self.world_size > 1:
            self.train_model = nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    # -- helpers ----------------------------------------------------------------------------
    def _progress_enabled(self) -> bool:
        if self.cfg.progress is not None:
            return bool(self.cfg.progress) and self.is_main
        return self.is_main and sys.stderr.isatty() and not os.environ.get("CI")

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _checkpoint_state(self, epoch: int, start_step: int, history: list, train_time: float, total_time: float, epoch_elapsed: float) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "curriculum": self.curriculum.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "sampler": {"epoch": epoch, "start_step": start_step, "seed": self.sampler.seed},
            "num_updates": self.num_updates,
            "rng": capture_rng(),
            "history": history,
            "train_time": train_time,
            "total_time": total_time,
            "epoch_elapsed": epoch_elapsed,
            "world_size": self.world_size,
            "final_size": self.final_size,
            "num_classes": self.data.num_classes,
            "steps": self._step_signature(),
            "sessions": self._sessions(epoch),
        }

    def _sessions(self, epoch: int) -> list[dict[str, Any]]:
        """The provenance records of every process that trained this run, up to ``epoch``."""
        current = [self._clock.measure(epoch).to_dict()] if self._clock is not None else []
        return self._sessions_before + current

    def _resolved_config(self) -> dict[str, Any]:
        """The config with every default resolved to the value the run used."""
        cfg = self.cfg
        amp = {None: "none", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]
        return {
            **cfg.to_dict(),
            "epochs": self.curriculum.epochs,
            "final_size": self.final_size,
            "lr": self.lr,
            "warmup_epochs": cfg.resolved_warmup(self.curriculum.epochs),
            "crop_pct": cfg.resolved_crop_pct(self.final_size),
            "workers": cfg.resolved_workers(),
            "threads": torch.get_num_threads(),
            "amp": amp,
            "device": str(self.device),
            "world_size": self.world_size,
            "curriculum_spec": self.curriculum.to_dict(),
        }

    def _step_signature(self) -> dict[str, int]:
        """Settings that fix the order of samples and the step count: they must not change on resume."""
        return {
            "batch_size": self.cfg.batch_size,
            "accum_steps": self.cfg.accum_steps,
            "seed": self.cfg.seed,
            "steps_per_epoch": self.sampler.steps_per_epoch,
            "total_updates": self.total_updates,
        }

    def _snapshot_state(self, epoch: int, history: list) -> dict[str, Any]:
        """Weights of one epoch, for analyses across training (not for resuming)."""
        return {
            "config": self.cfg.to_dict(),
            "curriculum": self.curriculum.to_dict(),
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "epoch": epoch,
            "history": history,
            "snapshot": True,
            "final_size": self.final_size,
            "num_classes": self.data.num_classes,
        }

    def _restore(self, state: dict[str, Any]) -> tuple[int, int, list, float, float, float]:
        saved_cur = state.get("curriculum")
        if saved_cur and saved_cur != self.curriculum.to_dict():
            raise UserError("--resume: the checkpoint was made with a different curriculum; resume with the original settings")
        if state.get("world_size", 1) != self.world_size:
            raise UserError(f"--resume: the checkpoint was made with {state.get('world_size')} processes, not {self.world_size}; resume with the same number")
        saved_steps = state.get("steps")
        if saved_steps and saved_steps != self._step_signature():
            changed = [k for k, v in self._step_signature().items() if saved_steps.get(k) != v]
            raise UserError(f"--resume: {', '.join(changed)} differ from the checkpoint's; resume with the original settings")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.module.load_state_dict(state["ema"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.num_updates = int(state["num_updates"])
        restore_rng(state["rng"])
        s = state["sampler"]
        return int(s["epoch"]), int(s["start_step"]), list(state.get("history", [])), float(state.get("train_time", 0.0)), float(state.get("total_time", 0.0)), float(state.get("epoch_elapsed", 0.0))

    def _handle_signal(self, signum: int, _frame: Any) -> None:
        self._stop_signal = signum

    def _any_rank(self, flag: bool) -> bool:
        """True if ``flag`` is true on any rank (a collective: every rank must call it)."""
        if self.world_size == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _stop_requested(self) -> bool:
        """Whether any rank got SIGTERM/SIGINT; all ranks then stop at the same step."""
        stop = self._any_rank(self._stop_signal is not None)
        if stop and self._stop_signal is None:
            self._stop_signal = signal.SIGTERM  # another rank got it
        return stop

    @torch.no_grad()
    def evaluate(self, model: Optional[nn.Module] = None) -> dict[str, float]:
        """Evaluate on the validation split at the final size.

        Args:
            model: Model to evaluate (default: the trained model).

        Returns:
            ``top1``, ``top5`` (percent) and ``loss``, averaged over the whole split (all ranks).
        """
        model = model or self.model
        was_training = model.training
        model.eval()
        k = min(5, self.data.num_classes)
        totals = torch.zeros(4, dtype=torch.float64, device=self.device)
        loss_fn = nn.CrossEntropyLoss(reduction="sum")
        for images, targets in self.val_loader:
            images = images.to(self.device, non_blocking=True)
            targets = targets.to(self.device, non_blocking=True)
            if self.cfg.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                logits = model(images)
            logits = logits.float()
            topk = logits.topk(k, dim=1).indices
            correct = topk.eq(targets.unsqueeze(1))
            totals += torch.tensor(
                [correct[:, 0].sum().item(), correct.any(dim=1).sum().item(), loss_fn(logits, targets).item(), targets.numel()],
                dtype=torch.float64,
                device=self.device,
            )
        if self.world_size > 1:
            dist.all_reduce(totals)
        model.train(was_training)
        n = max(totals[3].item(), 1.0)
        return {"top1": 100.0 * totals[0].item() / n, "top5": 100.0 * totals[1].item() / n, "loss": totals[2].item() / n}

    def _trace(self, record: dict[str, Any]) -> None:
        if self.cfg.trace:
            with open(self.out_dir / f"trace_rank{self.rank}.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    # -- the loop ---------------------------------------------------------------------------
    def run(self, max_epochs: Optional[int] = None) -> RunResult:
        """Train through the curriculum (or resume it), evaluating every epoch.

        Args:
            max_epochs: Stop, with a checkpoint, after this many epochs of this call (as if
                interrupted at an epoch boundary); ``None`` runs to the end.

        Returns:
            The :class:`RunResult`.
        """
        self.setup()
        cfg = self.cfg
        self.num_updates = 0
        start_epoch, start_step, history, train_time, total_time, epoch_elapsed = 0, 0, [], 0.0, 0.0, 0.0
        if self.resume_state is not None:
            self._sessions_before = list(self.resume_state.get("sessions", []))
            start_epoch, start_step, history, train_time, total_time, epoch_elapsed = self._restore(self.resume_state)
            self.resume_state = None
            self.log(f"resuming {self.out_dir} at epoch {start_epoch + 1}, step {start_step}")
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.yaml").write_text(_yaml(cfg.to_dict()))
            self.curriculum.save(self.out_dir / "curriculum.yaml")
        self._clock = SessionClock(start_epoch, self.world_size)
        logger = MetricsLogger(self.out_dir, tensorboard=cfg.tensorboard) if self.is_main else None
        if logger is not None and (start_epoch or start_step):
            # Rows logged after the checkpoint was written (a stop during evaluation, a crash)
            # would be repeated: start the files again from the checkpoint's history.
            logger.rewrite(history)
        if self.is_main and start_epoch == 0 and start_step == 0:
            report = curriculum_cost(self.curriculum)
            self.log(self.curriculum.table(cost=pixel_cost))
            self.log(f"theoretical speedup (pixel model): {report.speedup:.2f}x; model {cfg.model}, {len(self.data.train)} training images, "
                     f"{self.data.num_classes} classes, lr {self.lr:.3g}, device {self.device}")
        cost_per_epoch = [self._epoch_cost(e) for e in range(self.curriculum.num_epochs)]
        old_handlers = {s: signal.signal(s, self._handle_signal) for s in (signal.SIGTERM, signal.SIGINT)} if _in_main_thread() else {}
        completed = False
        epochs_run = 0
        self.model.train()
        try:
            for epoch in range(start_epoch, self.curriculum.num_epochs):
                if max_epochs is not None and epochs_run >= max_epochs:
                    break
                t0 = time.perf_counter()
                stats = self._train_epoch(epoch, start_step if epoch == start_epoch else 0, cost_per_epoch, train_time + epoch_elapsed, logger)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                epoch_train = epoch_elapsed + (time.perf_counter() - t0)
                epoch_elapsed = 0.0
                if stats is None:  # stopped by a signal mid-epoch
                    return self._stop(epoch, self._stopped_at, history, train_time, total_time, epoch_train, logger)
                if self.world_size > 1:
                    # DDP keeps parameters in sync but each rank updates its own batch-norm
                    # statistics; take rank 0's (as DDP does before every forward) so that all
                    # ranks evaluate and finish with the same state.
                    for buf in self.model.buffers():
                        dist.broadcast(buf, src=0)
                t1 = time.perf_counter()
                metrics = self.evaluate()
                ema_metrics = self.evaluate(self.ema.module) if self.ema is not None else None
                eval_time = time.perf_counter() - t1
                train_time += epoch_train
                total_time += epoch_train + eval_time
                s = self.curriculum(float(epoch))
                row = {
                    "epoch": epoch + 1,
                    "stage": s.stage + 1,
                    "size": stats["last_size"],
                    "magnitude": round(s.magnitude, 4),
                    "lr": stats["lr"],
                    "train_loss": stats["loss"],
                    "val_loss": metrics["loss"],
                    "top1": metrics["top1"],
                    "top5": metrics["top5"],
                    "epoch_time": epoch_train,
                    "eval_time": eval_time,
                    "train_time": train_time,
                    "total_time": total_time,
                    "images_per_s": stats["images"] / max(epoch_train, 1e-9),
                }
                if ema_metrics is not None:
                    row.update({"ema_top1": ema_metrics["top1"], "ema_top5": ema_metrics["top5"]})
                history.append(row)
                if logger is not None:
                    logger.log(row)
                self.log(
                    f"epoch {epoch + 1}/{self.curriculum.num_epochs}  B={row['size']}  m={row['magnitude']:.2f}  "
                    f"loss {row['train_loss']:.3f}  top1 {row['top1']:.2f}%  top5 {row['top5']:.2f}%  "
                    f"{row['epoch_time']:.1f}s ({row['images_per_s']:.0f} img/s)"
                    + (f"  ema top1 {row['ema_top1']:.2f}%" if ema_metrics else "")
                )
                epochs_run += 1
                last = epoch + 1 == self.curriculum.num_epochs
                stopping = self._stop_requested()
                if self.is_main and (last or stopping or (epoch + 1) % cfg.save_every == 0 or (max_epochs is not None and epochs_run >= max_epochs)):
                    save_checkpoint(self._checkpoint_state(epoch + 1, 0, history, train_time, total_time, 0.0), self.out_dir / "last.pt")
                if self.is_main and cfg.snapshot_every and (epoch + 1) % cfg.snapshot_every == 0:
                    save_checkpoint(self._snapshot_state(epoch + 1, history), self.out_dir / f"epoch_{epoch + 1:03d}.pt")
                if stopping and not last:
                    return self._stop(epoch + 1, 0, history, train_time, total_time, 0.0, logger, saved=True)
            else:
                completed = True
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
            shutdown_loader_workers([self.train_loader, self.val_loader])
        if completed and self.is_main:
            self._finish(history)
        if logger is not None:
            logger.close()
        return self._result(history, train_time, total_time, completed)

    def _epoch_cost(self, epoch: int) -> float:
        """Pixel cost of one epoch relative to an epoch at the final size (for the ETA)."""
        return cost_between(self.curriculum, float(epoch), min(float(epoch + 1), self.curriculum.epochs))

    def _train_epoch(self, epoch: int, start_step: int, cost_per_epoch: list[float], elapsed_before: float, logger: Any) -> Optional[dict[str, Any]]:
        cfg = self.cfg
        self.sampler.set_epoch(epoch, start_step)
        n_batches = self.sampler.batches_in_epoch(epoch)
        bar = None
        if self._progress_enabled():
            from tqdm import tqdm

            bar = tqdm(total=n_batches, initial=start_step, desc=f"epoch {epoch + 1}/{self.curriculum.num_epochs}", leave=False, dynamic_ncols=True)
        loss_sum, loss_count, images = 0.0, 0, 0
        last_size = self.final_size
        t_start = time.perf_counter()
        done_cost = sum(cost_per_epoch[:epoch]) + cost_per_epoch[epoch] * start_step / max(n_batches, 1)
        remaining_total = sum(cost_per_epoch)
        self.optimizer.zero_grad(set_to_none=True)
        for step, (x, y) in enumerate(self.train_loader, start=start_step):
            settings = self.sampler.settings(epoch, step)
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            if not cfg.crop_in_workers:
                x = crop_batch(x, settings, op=cfg.crop_op)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            last_size = int(x.shape[-1])
            if self.mixup is not None:
                x, y = self.mixup(x, y)
            sync = (step + 1) % cfg.accum_steps == 0 or step + 1 == n_batches
            ctx = self.train_model.no_sync() if (self.world_size > 1 and not sync) else contextlib.nullcontext()
            with ctx:
                with self._autocast():
                    loss = self.criterion(self.train_model(x).float(), y)
                loss_value = loss.item()
                # Every rank must take the same branch, or the others would wait in the gradient
                # all-reduce: agree on "some loss is non-finite" before the backward pass.
                if self._any_rank(not math.isfinite(loss_value)):
                    raise RuntimeError(f"the loss became non-finite at epoch {epoch + 1}, step {step}; lower the learning rate or enable --clip-grad")
                scaled = loss / cfg.accum_steps
                if self.scaler is not None:
                    self.scaler.scale(scaled).backward()
                else:
                    scaled.backward()
            if sync:
                if cfg.clip_grad:
                    if self.scaler is not None:
                        self.scaler.unscale_(self.optimizer)
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
                if self.scaler is not None:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.num_updates += 1
                if self.ema is not None:
                    self.ema.update(self.model, step=self.num_updates)
                self.scheduler.step_update(num_updates=self.num_updates)
            self._trace({"epoch": epoch, "step": step, "size": last_size, "magnitude": settings.magnitude, "stage": settings.stage})
            loss_sum += loss_value
            loss_count += 1
            images += x.shape[0]
            if bar is not None:
                elapsed = time.perf_counter() - t_start
                frac_cost = done_cost + cost_per_epoch[epoch] * (step + 1 - start_step) / max(n_batches, 1)
                spent = elapsed_before + elapsed
                eta = spent / frac_cost * (remaining_total - frac_cost) if frac_cost > 0 else 0.0
                bar.set_postfix_str(
                    f"stage {settings.stage + 1} B={last_size} m={settings.magnitude:.2f} loss {loss_sum / loss_count:.3f} "
                    f"{images / max(elapsed, 1e-9):.0f} img/s ETA {_hms(eta)}"
                )
                bar.update(1)
            if self._stop_requested() and step + 1 < n_batches:
                self._stopped_at = step + 1
                if bar is not None:
                    bar.close()
                return None
        if bar is not None:
            bar.close()
        return {"loss": loss_sum / max(loss_count, 1), "images": images, "last_size": last_size, "lr": self.optimizer.param_groups[0]["lr"]}

    def _stop(self, epoch: int, start_step: int, history: list, train_time: float, total_time: float, epoch_elapsed: float, logger: Any, saved: bool = False) -> RunResult:
        path = self.out_dir / "last.pt"
        if self.is_main and not saved:
            save_checkpoint(self._checkpoint_state(epoch, start_step, history, train_time, total_time, epoch_elapsed), path)
        name = signal.Signals(self._stop_signal).name if self._stop_signal else "stop"
        self.log(f"{name} received: checkpoint saved to {path} (epoch {epoch + 1}, step {start_step}); continue with --resume")
        if logger is not None:
            logger.close()
        return self._result(history, train_time, total_time, completed=False)

    def _finish(self, history: list) -> None:
        cfg = self.cfg
        if cfg.safetensors:
            meta = {"model": cfg.model, "num_classes": str(self.data.num_classes), "final_size": str(self.final_size)}
            export_safetensors(self.model.state_dict(), self.out_dir / "model.safetensors", meta)
            if self.ema is not None:
                export_safetensors(self.ema.module.state_dict(), self.out_dir / "model_ema.safetensors", meta)
        if cfg.trace:
            self._trace({"final_weights_sha256": weights_checksum(self.model)})
        if cfg.plot:
            from ..plots import plot_runs

            plot_runs([self.out_dir], cfg.plot)

    def _result(self, history: list, train_time: float, total_time: float, completed: bool) -> RunResult:
        if self.cfg.trace and completed and not self.is_main:
            self._trace({"final_weights_sha256": weights_checksum(self.model)})
        final = history[-1]["top1"] if history else float("nan")
        best = max((h["top1"] for h in history), default=float("nan"))
        report = curriculum_cost(self.curriculum)
        summary = {
            "name": self.cfg.run_name(),
            "model": self.cfg.model,
            "curriculum": self.curriculum.name,
            "epochs": self.curriculum.epochs,
            "final_size": self.final_size,
            "final_top1": final,
            "best_top1": best,
            "final_top5": history[-1]["top5"] if history else float("nan"),
            "train_time_s": train_time,
            "total_time_s": total_time,
            "theoretical_speedup": report.speedup,
            "completed": completed,
            "bad_images": self.data.bad_image_count(),
            "config": self._resolved_config(),
            "sessions": self._sessions(len(history)),
        }
        if history and "ema_top1" in history[-1]:
            summary["final_ema_top1"] = history[-1]["ema_top1"]
        if self.is_main and history:
            (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
            if completed:
                self.log(format_summary(summary))
        return RunResult(self.out_dir, history, final, best, train_time, total_time, completed, summary["bad_images"], summary)


def ignore_stop_signals(_worker_id: int) -> None:
    """Data-loader worker initialiser: leave SIGINT/SIGTERM to the main process.

    A Ctrl-C or a scheduler's SIGTERM usually reaches the whole process group. If the workers died
    of it, the main process would fail on its next batch instead of saving a checkpoint at the next
    step boundary. The main process stops the workers itself (:func:`shutdown_loader_workers`),
    since they no longer die of the SIGTERM that ``multiprocessing`` sends at interpreter exit.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


_LOADERS: "weakref.WeakSet[DataLoader]" = weakref.WeakSet()


def shutdown_loader_workers(loaders: Optional[list[DataLoader]] = None) -> None:
    """Stop the (persistent) workers of the runner's data loaders by asking them to exit.

    Registered with ``atexit``, so it runs before ``multiprocessing`` tries to terminate them.

    Args:
        loaders: Loaders to stop (default: every loader the runner created).
    """
    for loader in list(loaders if loaders is not None else _LOADERS):
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        if hasattr(loader, "_iterator"):
            loader._iterator = None


atexit.register(shutdown_loader_workers)


def weights_checksum(model: nn.Module) -> str:
    """SHA-256 of a model's state dict (names and raw bytes), to compare weights across runs."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _hms(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _yaml(d: dict) -> str:
    import yaml

    return yaml.safe_dump(d, sort_keys=False)


def train(config: Optional[TrainConfig] = None, **kwargs: Any) -> RunResult:
    """Train with a config, or with config fields as keyword arguments.

    Args:
        config: A :class:`TrainConfig`; ``None`` builds one from ``kwargs``.
        **kwargs: :class:`TrainConfig` fields (``preset`` applies a preset first).

    Returns:
        The :class:`RunResult`.
    """
    from .config import make_config

    cfg = config if config is not None else make_config(kwargs)
    return Trainer(cfg).run()

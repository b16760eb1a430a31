"""The recipe runner: one process trains a model through a whole curriculum.

The loop is built on the public drop-in API (:class:`~efficienttrain.data.CurriculumBatchSampler`,
:class:`~efficienttrain.data.CurriculumDataset`, :func:`~efficienttrain.data.shrink_batch` under the config's one
:class:`~efficienttrain.data.ShrinkPlan`); the
objective (:mod:`.objectives`) supplies the model, the loss and the evaluation, timm the
optimisation (:mod:`.optim`). There is one learning-rate schedule over all steps of the
curriculum, so nothing restarts when the input size changes.

Reading order: :meth:`Trainer.setup` validates and builds everything (nothing is written before
the inputs are known to be good); :meth:`Trainer.run` goes epoch by epoch; an epoch is
:meth:`Trainer._train_epoch` over :meth:`Trainer.train_step`, then :meth:`Trainer._end_epoch`
(evaluation, metrics, checkpoint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import time
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..cost import cost_between, curriculum_cost, pixel_cost
from ..curricula import Curriculum, Settings
from ..data.shrink import shrink_batch
from ..provenance import SessionClock
from ..rundir import weights_meta
from .build import TrainingParts, build_parts
from .config import TrainConfig
from .distributed import Runtime, ignore_stop_signals, init_runtime, shutdown_loader_workers, stop_signal_handlers
from .evaluate import EvaluationStopped
from .logger import MetricsLogger, MlflowTracker, StepScalars, format_summary
from .compute import compute_record, count_flops
from .preflight import DrySteps
from .precision import choose_cpu_precision, native_bf16, slow_amp_warning
from .objectives import EvalInputs
from .optim import GrowthStep
from .progress import DataWaitWatch, EpochProgress, epoch_line, hms, progress_enabled
from .records import EpochTimes, RunResult, build_summary, metrics_row
from .rng import capture_rng, restore_rng
from .state import EpochTally, RunState, SamplerPosition, check_resumable, make_checkpoint, make_snapshot, restore, weights_checksum

__all__ = ["Trainer", "RunResult", "TrainingParts", "train", "weights_checksum", "ignore_stop_signals", "shutdown_loader_workers"]


class Trainer:
    """Train a model through a curriculum according to a :class:`TrainConfig`.

    Typical use::

        trainer = Trainer(TrainConfig(model="resnet18", epochs=30, data="demo"))
        result = trainer.run()

    Args:
        config: The run configuration.
        log: Where progress lines go (default: stdout, rank 0 only).
        curriculum: A curriculum to train with instead of the one ``config.curriculum`` names
            (the schedule search passes its candidates this way).
    """

    def __init__(self, config: TrainConfig, log: Optional[Callable[[str], None]] = None, curriculum: Optional[Curriculum] = None) -> None:
        self.cfg = config.validate()
        self._log_fn = log
        self._curriculum = curriculum
        self._stop_signal: Optional[int] = None
        self._runtime: Optional[Runtime] = None
        self.parts: Optional[TrainingParts] = None
        self._logger: Optional[MetricsLogger] = None
        self._epoch_costs: list[float] = []
        self._wait_watch = DataWaitWatch(self.log, config.resolved_workers())
        # Throw-away steps (pre-flight, per-size compile); built by run() once the parts exist.
        self._dry: Optional[DrySteps] = None
        # FLOPs per image at each stage size, counted once per process (for summary.json's compute).
        self._flops: Optional[dict[int, float]] = None
        # Provenance: the sessions of earlier processes (from the checkpoint) and this one's clock.
        self._sessions_before: list[dict[str, Any]] = []
        self._clock: Optional[SessionClock] = None

    # -- what setup built (trainer.parts) ----------------------------------------------------
    def _parts(self) -> TrainingParts:
        if self.parts is None:
            raise RuntimeError("call Trainer.setup() (or run()) first")
        return self.parts

    def _is_main(self) -> bool:
        return self._runtime is None or self._runtime.is_main

    def log(self, msg: str) -> None:
        """Print a line on rank 0."""
        if not self._is_main():
            return
        if self._log_fn is not None:
            self._log_fn(msg)
        else:
            print(msg, flush=True)

    # -- setup -------------------------------------------------------------------------------
    def setup(self) -> "Trainer":
        """Validate the inputs and build data, model, curriculum and optimisation (:func:`.build.build_parts`).

        Raises:
            UserError: On any problem with the data, model, sizes, config or output directory.
        """
        if self.parts is None:
            cfg = self.cfg
            self._runtime = init_runtime(cfg.device, cfg.amp, cfg.threads, cfg.deterministic)
            self.parts = build_parts(cfg, self._runtime, self._curriculum, log=self.log, progress=self._progress_enabled())
        return self

    @property
    def stop_signal(self) -> Optional[int]:
        """The signal (SIGTERM or SIGINT) that stopped the run early, or ``None``."""
        return self._stop_signal

    # -- helpers ------------------------------------------------------------------------------
    def _progress_enabled(self) -> bool:
        return progress_enabled(self.cfg.progress, self._is_main())

    def _handle_signal(self, signum: int, _frame: Any) -> None:
        self._stop_signal = signum

    def _stop_requested(self) -> bool:
        """Whether any rank got SIGTERM/SIGINT (a collective); all ranks then stop together."""
        (stop,) = self._parts().runtime.any_rank(self._stop_signal is not None)
        if stop and self._stop_signal is None:
            self._stop_signal = signal.SIGTERM  # another rank got it
        return stop

    def _trace(self, record: dict[str, Any]) -> None:
        if self.cfg.trace:
            self._parts().run_dir.append_trace(self._parts().runtime.rank, record)

    def evaluate(self, model: Optional[nn.Module] = None) -> dict[str, float]:
        """Evaluate on the validation split at the final size, with the objective's metrics.

        Args:
            model: Model to evaluate (default: the trained model).

        Returns:
            ``top1``, ``top5`` (percent) and ``loss`` for classification, averaged over the whole
            split (all ranks).
        """
        parts = self._parts()
        return parts.objective.evaluate(model or parts.model, self._eval_inputs())

    def _eval_inputs(self) -> EvalInputs:
        parts = self._parts()
        return EvalInputs(parts.val_loader, parts.data, parts.runtime)

    def _evaluate_or_stop(self) -> tuple[dict[str, float], Optional[dict[str, float]]]:
        """The epoch's evaluations (the model's and the EMA's), given up at a stop signal in one process.

        Raises:
            EvaluationStopped: On a stop signal during evaluation (single process only: under DDP
                the ranks would have to agree before every batch, so the evaluation runs to its end).
        """
        parts = self._parts()
        should_stop = (lambda: self._stop_signal is not None) if parts.runtime.world_size == 1 else None
        inputs = self._eval_inputs()
        metrics = parts.objective.evaluate(parts.model, inputs, should_stop)
        ema = parts.optim.ema
        return metrics, parts.objective.evaluate(ema.module, inputs, should_stop) if ema is not None else None

    def _save(self, state: RunState) -> None:
        parts = self._parts()
        if parts.runtime.is_main:
            parts.run_dir.save_checkpoint(make_checkpoint(self.cfg, parts, state, self._sessions(state.epoch)))

    def _sessions(self, epoch: int) -> list[dict[str, Any]]:
        """The provenance records of every process that trained this run, up to ``epoch``."""
        current = [self._clock.measure(epoch).to_dict()] if self._clock is not None else []
        return self._sessions_before + current

    # -- the loop -----------------------------------------------------------------------------
    def run(self, max_epochs: Optional[int] = None) -> RunResult:
        """Train through the curriculum (or resume it), evaluating every epoch.

        Args:
            max_epochs: Stop, with a checkpoint, after this many epochs of this call (as if
                interrupted at an epoch boundary); ``None`` runs to the end.

        Returns:
            The :class:`RunResult`.
        """
        self.setup()
        try:
            return self._run(max_epochs)
        finally:
            self._parts().run_dir.release()  # the folder's lock: a later run may write there

    def _run(self, max_epochs: Optional[int]) -> RunResult:
        parts = self._parts()
        # The handlers stay for the finish too (exports, summary): a signal there waits for the
        # few writes that complete the run, rather than leaving a trained run without its summary.
        with stop_signal_handlers(self._handle_signal):
            state, outcome = self._train_or_stop(max_epochs)
            name = signal.Signals(self._stop_signal).name if self._stop_signal else "stop"
            if outcome == "stopped before the start":
                self.log(f"{name} received during the pre-flight: stopped before training, nothing was written")
            elif outcome == "stopped":
                self.log(f"{name} received: checkpoint saved to {parts.run_dir.checkpoint_path} (epoch {state.epoch + 1}, step {state.step}); continue with --resume")
            elif outcome == "completed" and parts.runtime.is_main:
                self._finish()
            if self._logger is not None:
                self._logger.close(finished=outcome == "completed")
            return self._result(state, completed=outcome == "completed")

    def _train_or_stop(self, max_epochs: Optional[int]) -> tuple[RunState, str]:
        """The pre-flight, then the epochs; returns where it ended and how (see :meth:`_run_epochs`)."""
        parts = self._parts()
        try:
            if parts.resume is not None:  # a resume that cannot work is refused before the pre-flight's steps
                check_resumable(self.cfg, parts, parts.resume)
                # The pre-flight checks the checkpoint's batch-growth factors instead of choosing its own.
                SamplerPosition(parts.sampler, RunState()).load_state_dict(parts.resume.sampler)
            # Before anything is written: an out-of-memory error at the largest size leaves
            # the output directory (and any checkpoint in it) as it was.
            self._dry = DrySteps(self.cfg, parts, self.log, should_stop=lambda: self._stop_signal is not None)
            self._choose_precision()
            self._dry.preflight()
            self._check_amp_speed()
            if self._stop_signal is not None:  # stopped during the pre-flight: nothing written, nothing to save
                return RunState(), "stopped before the start"
            state = self._start()
            return state, self._run_epochs(state, max_epochs)
        finally:
            shutdown_loader_workers([parts.train_loader, parts.val_loader])

    def _choose_precision(self) -> None:
        """Resolve ``--amp auto`` on a CPU (:mod:`.precision`): fp32 unless bf16 makes a step faster here."""
        parts = self._parts()
        if self.cfg.amp != "auto":
            return
        if parts.runtime.device.type != "cpu":
            self._keep_resumed_precision()
            return
        resumed = (parts.resume.amp or "none") if parts.resume is not None else None  # older checkpoints: fp32, as auto was on a CPU
        choice = choose_cpu_precision(
            # Under --compile a timed step would include compiling a graph for each precision: the capability decides.
            resumed=resumed if resumed != "fp16" else "none", deterministic=self.cfg.deterministic, distributed=parts.runtime.world_size > 1 or self.cfg.compile,
            step_seconds=lambda amp: self._dry.seconds(parts.curriculum.final_size, amp),
        )  # fmt: skip
        parts.runtime = self._runtime = dataclasses.replace(parts.runtime, amp=choice.amp)
        if choice.fp32_s is not None or choice.amp != "none":
            self.log(choice.line())

    def _keep_resumed_precision(self) -> None:
        """On a GPU under ``--amp auto``, a resume keeps the precision the run began with (if this device has it)."""
        parts = self._parts()
        saved = parts.resume.amp if parts.resume is not None else ""
        if not saved or saved == parts.runtime.amp:
            return
        if saved == "bf16" and not torch.cuda.is_bf16_supported():
            self.log(f"note: the run began in bf16, which this GPU lacks; it continues in {parts.runtime.amp}")
            return
        parts.runtime = self._runtime = dataclasses.replace(parts.runtime, amp=saved)

    def _check_amp_speed(self) -> None:
        """After the pre-flight: one line when an explicit CPU mixed precision is far slower than fp32 here."""
        parts = self._parts()
        size = parts.curriculum.final_size
        step = self._dry.done.get(size)
        if self.cfg.amp in ("auto", "none") or parts.runtime.device.type != "cpu" or step is None or native_bf16():
            return
        warning = slow_amp_warning(self.cfg.amp, step.seconds, self._dry.seconds(size, "none"), size)
        if warning:
            self.log(warning)

    def _start(self) -> RunState:
        """Restore the checkpoint (or start afresh), prepare the output and the logs."""
        parts = self._parts()
        cfg = self.cfg
        state = RunState(amp=parts.runtime.amp)
        if parts.resume is not None:
            state = restore(cfg, parts, parts.resume)
            self._sessions_before = list(parts.resume.sessions)
            parts.resume = None
            self.log(f"resuming {parts.run_dir.path} at epoch {state.epoch + 1}, step {state.step}")
        if parts.runtime.is_main:
            parts.run_dir.prepare(cfg.to_dict(), parts.curriculum.to_yaml())
            tracker = MlflowTracker(cfg.mlflow, parts.run_dir.path, cfg.name or parts.run_dir.path.name, cfg.to_dict()) if cfg.mlflow else None
            self._logger = MetricsLogger(parts.run_dir.path, tensorboard=cfg.tensorboard, mlflow=tracker)
            # Rows logged after the last checkpoint was written (a stop during evaluation, a crash,
            # or a kill before the first checkpoint of a fresh start) would be repeated: start the
            # files again from the checkpoint's history, which is empty on a fresh start.
            self._logger.rewrite(state.history)
        self._clock = SessionClock(state.epoch, parts.runtime.world_size)
        if state.epoch == 0 and state.step == 0:
            cur = parts.curriculum
            self.log(cur.table(cost=pixel_cost))
            self.log(
                f"theoretical speedup (pixel model): {curriculum_cost(cur).speedup:.2f}x; model {cfg.model}, {len(parts.data.train)} "
                f"training images, {parts.data.num_classes} classes, lr {parts.optim.lr:.3g}, device {parts.runtime.device}"
            )
            warning = cfg.lr_warning(parts.runtime.world_size)
            if warning:
                self.log(warning)
        self._epoch_costs = self._predicted_epochs()
        if state.epoch == 0 and state.step == 0 and self._dry is not None and self._dry.done:
            self.log(f"predicted training time {hms(sum(self._epoch_costs))}, stage by stage from the pre-flight's steps (the progress bar's ETA corrects it as epochs run)")
        return state

    def _predicted_epochs(self) -> list[float]:
        """Each epoch's predicted cost, for the ETA: seconds from the pre-flight's step at each size, else the pixel model (relative units)."""
        parts = self._parts()
        cur, sampler = parts.curriculum, parts.sampler
        measured = {size: step.seconds for size, step in (self._dry.done if self._dry is not None else {}).items()}
        if not set(cur.sizes) <= set(measured):
            return [cost_between(cur, float(e), min(float(e + 1), cur.epochs)) for e in range(cur.num_epochs)]
        return [sum(measured[sampler.settings(e, s).size] for s in range(sampler.batches_in_epoch(e))) for e in range(cur.num_epochs)]

    def _run_epochs(self, state: RunState, max_epochs: Optional[int]) -> str:
        """Train the remaining epochs; returns ``completed``, ``stopped`` (a signal) or ``paused`` (``max_epochs``)."""
        parts = self._parts()
        epochs_run = 0
        while state.epoch < parts.curriculum.num_epochs:
            if max_epochs is not None and epochs_run >= max_epochs:
                return "paused"
            t0 = time.perf_counter()
            tally = self._train_epoch(state)
            parts.runtime.synchronize()
            seconds = state.epoch_elapsed + (time.perf_counter() - t0) - tally.compile_time
            if tally.stopped_at is not None:
                state.step, state.epoch_elapsed, state.epoch_tally = tally.stopped_at, seconds, tally.partial()
                self._save(state)
                return "stopped"
            epochs_run += 1
            stopping = self._end_epoch(state, tally, seconds, pause=max_epochs is not None and epochs_run >= max_epochs)
            if stopping and state.epoch < parts.curriculum.num_epochs:
                return "stopped"
        return "completed"

    def _train_epoch(self, state: RunState) -> EpochTally:
        """Train the batches of ``state.epoch`` from ``state.step`` on, until its end or a stop request."""
        parts = self._parts()
        epoch, start = state.epoch, state.step
        parts.sampler.set_epoch(epoch, start)
        n_batches = parts.sampler.batches_in_epoch(epoch)
        progress = EpochProgress(
            self._progress_enabled(), epoch, parts.curriculum.num_epochs, n_batches, start, self._epoch_costs, state.train_time + state.epoch_elapsed
        )
        tally = EpochTally(last_size=parts.curriculum.final_size).resume(state.epoch_tally if start else {})
        if 0 < start == n_batches:  # stopped during the evaluation: every batch is trained, the row needs the last one's settings
            tally.last_settings = parts.sampler.settings(epoch, n_batches - 1)
        first_global_step = sum(parts.sampler.batches_in_epoch(e) for e in range(epoch))
        parts.optim.optimizer.zero_grad(set_to_none=True)
        batches = iter(parts.train_loader)
        try:
            for step in range(start, n_batches):
                t0 = time.perf_counter()
                batch = next(batches, None)
                waited = time.perf_counter() - t0
                if batch is None:
                    break
                settings = parts.sampler.settings(epoch, step)
                update = (step + 1) % self.cfg.accum_steps == 0 or step + 1 == n_batches  # the epoch's last batch always updates
                stop = self.train_step(state, step, batch[0], batch[1], settings, tally, update=update, growth=self._growth_step(epoch, step))
                tally.data_wait += waited
                if self._logger is not None and self._logger.logs_steps:
                    scalars = StepScalars(tally.last_loss, parts.optim.current_lr, tally.last_size, settings.magnitude, waited)
                    self._logger.log_step(first_global_step + step, scalars)
                self._wait_watch.observe(settings, waited, time.perf_counter() - t0, first_of_epoch=step == start)
                progress.update(step, settings, tally.last_size, tally.mean_loss, tally.images, tally.data_wait)
                if stop and step + 1 < n_batches:
                    tally.stopped_at = step + 1
                    break
        finally:
            progress.close()
        return tally

    def _growth_step(self, epoch: int, step: int) -> Optional[GrowthStep]:
        """Under ``--batch-growth``: the batch's LR factor and where the LR schedule stands after it."""
        sampler = self._parts().sampler
        if not sampler.growth.active:
            return None
        return GrowthStep(sampler.lr_scale(epoch, step), sampler.schedule_steps(epoch, step))

    def train_step(
        self, state: RunState, step: int, x: torch.Tensor, y: torch.Tensor, settings: Settings, tally: EpochTally, *, update: bool = True,
        growth: Optional[GrowthStep] = None,
    ) -> bool:  # fmt: skip
        """One training step on a batch: crop to ``settings.size``, forward, backward, and (every ``accum_steps``) an update.

        The loop calls it for every batch; :mod:`.probe` calls it to time steps exactly as a run takes them.

        Args:
            state: The run's state (its update count advances).
            step: The batch's index in the epoch (for the trace).
            x: Images at the final size (or at ``settings.size`` when the workers crop).
            y: Targets.
            settings: The curriculum's settings for the batch.
            tally: The epoch's running totals.
            update: Step the optimizer after this batch's backward (else accumulate, without
                DDP's gradient sync).
            growth: For a batch cut by ``--batch-growth``: its learning-rate factor and the
                schedule's position (``None``: the base batch, the schedule counts updates).

        Returns:
            Whether any rank asked to stop.
        """
        parts = self._parts()
        cfg, runtime, objective = self.cfg, parts.runtime, parts.objective
        x = x.to(runtime.device, non_blocking=True)
        y = y.to(runtime.device, non_blocking=True)
        x = shrink_batch(parts.plan, x, settings)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        size = int(x.shape[-1])
        if self._dry is not None:
            tally.compile_time += self._dry.before_step(size)
        if objective.mixup is not None:
            x, y = objective.mixup(x, y)
        no_sync = parts.train_model.no_sync() if (runtime.world_size > 1 and not update) else contextlib.nullcontext()
        with no_sync:
            with runtime.autocast():
                loss = objective.loss(parts.train_model, x, y)
            loss_value = loss.item()
            # The step's one collective. Every rank must take the same branch, or the others would
            # wait in the gradient all-reduce: agree on "some loss is non-finite" before the
            # backward pass, and on "some rank was asked to stop" so that all stop at this step.
            nonfinite, stop = runtime.any_rank(not math.isfinite(loss_value), self._stop_signal is not None)
            if nonfinite:
                raise RuntimeError(f"the loss became non-finite at epoch {state.epoch + 1}, step {step}; lower the learning rate or enable --clip-grad")
            parts.optim.backward(loss / cfg.accum_steps)
        if update:
            state.num_updates += 1
            parts.optim.step(parts.model, cfg.clip_grad, state.num_updates, growth)
        self._trace({"epoch": state.epoch, "step": step, "size": size, "magnitude": settings.magnitude, "stage": settings.stage})
        tally.loss_sum += loss_value
        tally.last_loss = loss_value
        tally.batches += 1
        tally.images += x.shape[0]
        tally.last_size = size
        tally.last_settings = settings
        if stop and self._stop_signal is None:
            self._stop_signal = signal.SIGTERM  # another rank got it
        return stop

    def _end_epoch(self, state: RunState, tally: EpochTally, epoch_train: float, pause: bool) -> bool:
        """Evaluate, log the epoch's row, checkpoint; returns whether a stop was requested."""
        parts = self._parts()
        cfg = self.cfg
        # DDP keeps parameters in sync but each rank updates its own batch-norm statistics; take
        # rank 0's (as DDP does before every forward) so that all ranks evaluate alike.
        parts.runtime.sync_buffers(parts.model)
        if self._dry is not None:
            self._dry.check_recompiles(state.epoch)
        t1 = time.perf_counter()
        rng_before = capture_rng()
        try:
            metrics, ema_metrics = self._evaluate_or_stop()
        except EvaluationStopped:  # the epoch's batches are kept; the resume evaluates, then goes on
            # The checkpoint takes the generators as they were before the evaluation, whose draws
            # (a loader's base seed) the resume makes again.
            restore_rng(rng_before)
            state.step, state.epoch_elapsed, state.epoch_tally = parts.sampler.batches_in_epoch(state.epoch), epoch_train, tally.partial()
            self._save(state)
            return True
        eval_time = time.perf_counter() - t1
        state.train_time += epoch_train
        state.total_time += epoch_train + eval_time
        row = metrics_row(self._parts(), state, tally, metrics, ema_metrics, EpochTimes(epoch_train, eval_time)).to_dict()
        state.history.append(row)
        if self._logger is not None:
            self._logger.log(row)
        self.log(epoch_line(row, parts.curriculum.num_epochs, parts.objective.metric_label))
        state.epoch, state.step, state.epoch_elapsed, state.epoch_tally = state.epoch + 1, 0, 0.0, {}
        last = state.epoch == parts.curriculum.num_epochs
        stopping = self._stop_requested()
        if last or stopping or state.epoch % cfg.save_every == 0 or pause:
            self._save(state)
        if parts.runtime.is_main and cfg.snapshot_every and state.epoch % cfg.snapshot_every == 0:
            parts.run_dir.save_snapshot(make_snapshot(cfg, parts, state))
        return stopping

    # -- the end ------------------------------------------------------------------------------
    def _finish(self) -> None:
        parts = self._parts()
        cfg = self.cfg
        if cfg.safetensors:
            meta = {"model": cfg.model, "num_classes": str(parts.data.num_classes), "final_size": str(parts.curriculum.final_size), **weights_meta(parts.objective.model_kwargs(), parts.data.classes)}
            parts.objective.export(parts.model, parts.run_dir, meta)
            if parts.optim.ema is not None:
                parts.objective.export(parts.optim.ema.module, parts.run_dir, meta, ema=True)
        if cfg.trace:
            self._trace({"final_weights_sha256": weights_checksum(parts.model)})
        if cfg.plot:
            from ..plots import plot_runs  # plots reads the run through rundir; nothing there imports the runner

            plot_runs([parts.run_dir.path], cfg.plot)

    def _result(self, state: RunState, completed: bool) -> RunResult:
        parts = self._parts()
        cfg = self.cfg
        if cfg.trace and completed and not parts.runtime.is_main:
            self._trace({"final_weights_sha256": weights_checksum(parts.model)})
        history = state.history
        dry = self._dry
        extra = {"preflight": dry.record(), "compile": dry.compile_record()} if dry is not None else {}
        summary = build_summary(cfg, parts, state, completed, self._sessions(len(history)), **extra)
        if parts.runtime.is_main and history:
            if self._flops is None:
                self._flops = count_flops(parts)
            summary.compute = compute_record(parts, state.epoch, state.step, self._flops)
            parts.run_dir.write_summary(summary)
            if completed:
                self.log(format_summary(summary))
        return RunResult(parts.run_dir.path, history, summary)


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

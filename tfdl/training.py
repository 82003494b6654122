"""One GradientTape training loop for every tfdl model.

The trainer knows nothing about music, digits or faces: a model comes with a
``loss_fn(model, batch, training) -> loss`` (or ``-> (loss, {name: metric})``) and
the trainer runs it with a tape, applies the gradients, and takes care of
progress bars, validation, checkpoints, resume, Ctrl-C, tracking and the loss plot.

Distribution: pass a ``tf.distribute`` strategy and build the model and optimizer
inside ``strategy.scope()``. The same loop runs under ``MirroredStrategy`` (one
machine, several GPUs) and ``MultiWorkerMirroredStrategy`` (several machines, each
started with its own ``TF_CONFIG``; give every worker the same code and ``out_dir``
on shared storage, and only the chief writes checkpoints and plots). Batches from
``train_data`` are global batches; each replica gets an equal share.
"""

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf
from tqdm.auto import tqdm

from tfdl.checkpoints import CheckpointDir, CheckpointError, model_identity, write_text_atomic

# When stderr is no terminal (a file, a CI log), a bar can only print a new line per
# refresh: one every 10 seconds at most, instead of one per step.
LOG_REFRESH_SECONDS = 10.0
# The key under which an evaluation step reports how many examples it scored.
_EXAMPLES = "_examples"


def progress_pacing(stream=None):
    """tqdm arguments for ``stream`` (default stderr): live on a terminal, else sparse."""
    stream = sys.stderr if stream is None else stream
    if getattr(stream, "isatty", lambda: False)():
        return {}
    return {"mininterval": LOG_REFRESH_SECONDS, "maxinterval": LOG_REFRESH_SECONDS * 6}


@dataclass
class TrainConfig:
    steps: int = 1000
    # Checkpoints cost a disk write of the model + optimizer (3x the weights for Adam);
    # every few hundred steps bounds lost work to minutes at the lab's model size.
    checkpoint_every: int = 500
    # Validation is a full pass over the validation set: every 100 steps keeps it <10%.
    eval_every: int = 100
    # Metrics to the tracker every 10 steps: a smooth curve without flooding Comet.
    log_every: int = 10
    keep_checkpoints: int = 3
    # A time budget in seconds of this run's clock (which a resume continues): when the
    # next step, the final validation pass and the final checkpoint would no longer fit
    # in it, training stops there with that evaluation and checkpoint. None: no limit.
    max_seconds: float | None = None

    def __post_init__(self):
        for name in ("steps", "checkpoint_every", "eval_every", "log_every", "keep_checkpoints"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"TrainConfig.max_seconds must be > 0, got {self.max_seconds!r}")


@dataclass
class History:
    """Loss per step (and validation loss per evaluation), as plain lists."""

    steps: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    seconds: list = field(default_factory=list)  # training wall time at each step, all fits
    val_steps: list = field(default_factory=list)
    val_losses: list = field(default_factory=list)
    val_metrics: list = field(default_factory=list)  # dicts, one per evaluation
    interrupted: bool = False

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _as_loss_and_metrics(out):
    if isinstance(out, (tuple, list)):
        loss, metrics = out
        return loss, dict(metrics)
    return out, {}


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``loss_fn`` (see module docstring).

    Args:
        model: a Keras model (built in ``strategy.scope()`` when a strategy is given).
        optimizer: a Keras optimizer (gradient clipping: its ``global_clipnorm``).
        loss_fn: ``loss_fn(model, batch, training)`` returning a scalar loss, or
            ``(loss, {name: scalar})``; the loss is a mean over the batch it sees.
        out_dir: where checkpoints, ``history.json`` and ``loss.png`` go.
        config: a `TrainConfig`.
        strategy: a ``tf.distribute.Strategy`` or None for the default one.
        tracker: a `tfdl.tracking.Tracker` or None.
        progress: show a tqdm progress bar.
    """

    def __init__(
        self,
        model,
        optimizer,
        loss_fn,
        out_dir,
        config=None,
        *,
        strategy=None,
        tracker=None,
        progress=True,
    ):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.out_dir = Path(out_dir)
        self.config = config or TrainConfig()
        self.strategy = strategy or tf.distribute.get_strategy()
        self.tracker = tracker
        self.progress = progress
        self.checkpoints = CheckpointDir(self.out_dir / "checkpoints", self.config.keep_checkpoints)
        with self.strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._train_step = tf.function(self._distributed_train_step)
        self._eval_step = tf.function(self._distributed_eval_step)

    # -- one step ------------------------------------------------------------------

    def _replica_train_step(self, batch):
        variables = self.model.trainable_variables
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            loss, metrics = _as_loss_and_metrics(self.loss_fn(self.model, batch, training=True))
            if self.model.losses:  # regularisers declared by the model's layers
                loss = loss + tf.add_n(self.model.losses)
            # Gradients are summed across replicas, so each replica scales its share.
            scaled = loss / replicas
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return {"loss": scaled, **{k: v / replicas for k, v in metrics.items()}}

    def _distributed_train_step(self, batch):
        per_replica = self.strategy.run(self._replica_train_step, args=(batch,))
        self.step.assign_add(1)
        return {
            k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    def _replica_eval_step(self, batch):
        # Sums, not means: a short last batch weighs what it holds, and a replica that
        # got no examples (a tail batch smaller than the replica count) adds nothing
        # instead of the NaN its empty mean would be.
        n = tf.cast(tf.shape(tf.nest.flatten(batch)[0])[0], tf.float32)
        loss, metrics = _as_loss_and_metrics(self.loss_fn(self.model, batch, training=False))
        values = {"loss": loss, **metrics}
        sums = {k: tf.where(n > 0, tf.cast(v, tf.float32) * n, 0.0) for k, v in values.items()}
        return {**sums, _EXAMPLES: n}

    def _distributed_eval_step(self, batch):
        per_replica = self.strategy.run(self._replica_eval_step, args=(batch,))
        return {
            k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    # -- evaluation ----------------------------------------------------------------

    def evaluate(self, data):
        """Loss and metrics over a finite dataset (one pass), averaged per example."""
        totals = {}
        for batch in self.strategy.experimental_distribute_dataset(data):
            for k, v in self._eval_step(batch).items():
                totals[k] = totals.get(k, 0.0) + float(v)
        examples = totals.pop(_EXAMPLES, 0.0)
        if examples == 0:
            raise ValueError("validation data is empty: it yielded no batch")
        return {k: v / examples for k, v in totals.items()}

    # -- the loop --------------------------------------------------------------------

    def _build(self):
        """Create model and optimizer variables (needed before a restore)."""
        if not self.model.built or not self.model.trainable_variables:
            raise ValueError(
                f"build {type(self.model).__name__} before training (call it on one batch)"
            )
        with self.strategy.scope():
            self.optimizer.build(self.model.trainable_variables)

    def _save(self, ckpt, history):
        if not _is_chief(self.strategy):
            return
        meta = {"model": model_identity(self.model), "history": history.to_dict()}
        self.checkpoints.save(ckpt, int(self.step.numpy()), meta)
        write_text_atomic(self.out_dir / "history.json", json.dumps(history.to_dict()))

    def fit(self, train_data, val_data=None, resume=False, skip_seen=True):
        """Train for ``config.steps`` steps in total (counting steps done before a resume),
        or until ``config.max_seconds`` runs out, whichever comes first.

        ``train_data`` is a ``tf.data.Dataset`` of batches; it is repeated if it runs out.
        Returns a `History`. Ctrl-C saves a checkpoint and returns with
        ``history.interrupted = True``.

        Resume restores model, optimizer and step, then skips the batches already
        seen, so a seeded pipeline continues exactly where it stopped. (Skipping
        replays the input pipeline, not the model: cheap next to training.) Pass
        ``skip_seen=False`` when ``train_data`` is a fresh dataset that starts where the
        run stopped (e.g. one ``fit`` per epoch, each with newly drawn batches).
        """
        cfg = self.config
        self._build()
        ckpt = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step)
        history = History()
        if not resume and self.checkpoints.latest() is not None:
            # Starting over here would interleave two runs' checkpoints: refuse.
            raise CheckpointError(
                f"{self.checkpoints.directory} already holds checkpoints: resume, or train "
                "into another directory"
            )
        if resume:
            meta = self.checkpoints.restore(ckpt, identity=model_identity(self.model))
            history = History.from_dict(meta.get("history", {}))
            history.interrupted = False
        start = int(self.step.numpy())
        dataset = train_data.repeat().skip(start if skip_seen else 0)
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        if self.tracker is not None:
            self.tracker.log_parameters({"steps": cfg.steps, "start_step": start})
        bar = tqdm(
            total=cfg.steps,
            initial=start,
            disable=not self.progress,
            desc="train",
            unit="step",
            **progress_pacing(),
        )
        running = None
        postfix = {}
        if history.val_losses:
            postfix["val_loss"] = f"{history.val_losses[-1]:.4f}"
        # Continue the clock of the run being resumed, so seconds[-1] is its total time.
        started = time.perf_counter() - (history.seconds[-1] if history.seconds else 0.0)
        # Under a time budget: the longest step, validation pass and save seen so far,
        # which the time left must hold before another step is taken.
        slowest = {"step": 0.0, "eval": 0.0, "save": 0.0}
        try:
            while int(self.step.numpy()) < cfg.steps:
                step_started = time.perf_counter()
                values = {k: float(v) for k, v in self._train_step(next(iterator)).items()}
                step = int(self.step.numpy())
                history.steps.append(step)
                history.losses.append(values["loss"])
                history.seconds.append(time.perf_counter() - started)
                if step > start + 1:  # the first step of a fit includes compiling it
                    slowest["step"] = max(slowest["step"], time.perf_counter() - step_started)
                last = step == cfg.steps
                if cfg.max_seconds is not None:
                    left = cfg.max_seconds - (time.perf_counter() - started)
                    last = last or left < sum(slowest.values())
                    postfix["left"] = _minutes_seconds(max(0.0, left))
                # Exponential running mean for the bar: steadier than the last batch.
                running = (
                    values["loss"] if running is None else 0.9 * running + 0.1 * values["loss"]
                )
                postfix["loss"] = f"{running:.4f}"
                if self.tracker is not None and step % cfg.log_every == 0:
                    self.tracker.log_metrics(values, step=step)
                if val_data is not None and (step % cfg.eval_every == 0 or last):
                    eval_started = time.perf_counter()
                    val = self.evaluate(val_data)
                    slowest["eval"] = max(slowest["eval"], time.perf_counter() - eval_started)
                    history.val_steps.append(step)
                    history.val_losses.append(val["loss"])
                    history.val_metrics.append(val)
                    postfix["val_loss"] = f"{val['loss']:.4f}"
                    if self.tracker is not None:
                        self.tracker.log_metrics({f"val_{k}": v for k, v in val.items()}, step=step)
                bar.set_postfix(postfix)
                bar.update(1)
                if step % cfg.checkpoint_every == 0 or last:
                    save_started = time.perf_counter()
                    self._save(ckpt, history)
                    slowest["save"] = max(slowest["save"], time.perf_counter() - save_started)
                if last:
                    break
        except KeyboardInterrupt:
            history.interrupted = True
            bar.write(f"interrupted at step {int(self.step.numpy())}: saving a checkpoint")
            self._save(ckpt, history)
        finally:
            bar.close()
        self._finish(history)
        return history

    def _finish(self, history):
        if not _is_chief(self.strategy):
            return
        from tfdl.plots import log_and_close, plot_loss

        self.out_dir.mkdir(parents=True, exist_ok=True)
        log_and_close({"loss": plot_loss(history, self.out_dir / "loss.png")}, self.tracker)


def _minutes_seconds(seconds):
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _is_chief(strategy):
    """True on the worker that writes files (always true on one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "cluster_spec", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and task_id == 0)

"""One GradientTape training loop for every tfdl model.

The trainer knows nothing about music, digits or faces: a model comes with a
``loss_fn(model, batch, training) -> loss`` (or ``-> (loss, {name: metric})``) and
the trainer runs it with a tape, applies the gradients, and takes care of
progress bars, validation, checkpoints, resume, Ctrl-C, tracking and the loss plot.

Distribution: pass a ``tf.distribute`` strategy (`make_strategy`) and build the model
and optimizer inside ``strategy.scope()``. The same loop runs under
``MirroredStrategy`` (one machine, several GPUs) and ``MultiWorkerMirroredStrategy``
(several machines, each started with its own ``TF_CONFIG``; give every worker the same
code and ``out_dir`` on shared storage). Every worker saves each checkpoint, since
saving can run collectives the others wait for, but only the chief's stay: another
worker's go to a temporary directory that is removed. History, plots: chief only.
Batches from ``train_data`` are global batches; each replica gets an equal share.

Precision: build the model under `precision("mixed")` (bfloat16 on CPU, float16 on GPU,
variables float32). A float16 model's optimizer is wrapped in a
``LossScaleOptimizer``; losses and metrics are float32 whatever the model computes in.
"""

import contextlib
import dataclasses
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf
from tqdm.auto import tqdm

from tfdl.checkpoints import CheckpointDir, CheckpointError, model_identity, write_text_atomic
from tfdl.errors import UserError

# When stderr is no terminal (a file, a CI log), a bar writes one update (a line, or a
# '\r' redraw) every 10 seconds at most, plus its last one, instead of one per step.
# TFDL_PROGRESS_SECONDS sets another interval (the tests lower it).
LOG_REFRESH_SECONDS = 10.0
# The key under which an evaluation step reports how many examples it scored.
_EXAMPLES = "_examples"
# The loss history beside the checkpoints: one JSON line per save, appended.
HISTORY_FILE = "history.jsonl"
DISTRIBUTIONS = ("mirrored", "multiworker")
PRECISIONS = ("float32", "mixed")
# A collective that waits this long for another worker gives up. A dead worker is
# found sooner (~10 s: it stops sending heartbeats); this is for a hung one. Generous,
# because a worker may wait at a collective while the slowest one traces a step or
# evaluates.
COLLECTIVE_TIMEOUT_SECONDS = 300.0


def progress_pacing(stream=None):
    """tqdm arguments for ``stream`` (default stderr): live on a terminal, else sparse."""
    stream = sys.stderr if stream is None else stream
    if getattr(stream, "isatty", lambda: False)():
        return {}
    seconds = float(os.environ.get("TFDL_PROGRESS_SECONDS", LOG_REFRESH_SECONDS))
    return {"mininterval": seconds, "maxinterval": seconds * 6}


def make_strategy(distribute=None):
    """The ``tf.distribute`` strategy ``distribute`` names; None: the default one.

    "mirrored": every GPU of this machine. "multiworker": several machines, each
    started with ``TF_CONFIG`` naming the cluster and its own place in it (see the
    README); create it before any other TensorFlow work in the process.
    """
    if distribute is None:
        return None
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise UserError(
                "--distribute multiworker reads the cluster from TF_CONFIG: set it on every "
                "worker (see the README)"
            )
        options = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise UserError(f"distribute must be one of {', '.join(DISTRIBUTIONS)}, got {distribute!r}")


def is_chief(strategy=None):
    """True on the worker that keeps files (always, on one machine)."""
    return (strategy or tf.distribute.get_strategy()).extended.should_checkpoint


@contextlib.contextmanager
def precision(name="float32"):
    """Build and train the models made inside under ``name``'s Keras dtype policy.

    "float32", or "mixed": ``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU
    (float16 is slow there; bfloat16 has float32's range and needs no loss scaling).
    Variables stay float32 either way. The previous global policy is back on exit.
    Yields the policy's name.
    """
    if name not in PRECISIONS:
        raise UserError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    policy = "float32"
    if name == "mixed":
        policy = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


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
    # Keep the weights of the best validation loss: when a later evaluation is worse
    # (the model began to overfit), the model ends with the best weights and
    # ``history.best_step`` says from which step. Held in memory: a resumed run keeps
    # the best since the resume.
    keep_best: bool = False

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
    best_step: int | None = None  # the step whose weights the model ended with (keep_best)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def after(self, step):
        """What came after ``step``, as a dict of lists (no ``interrupted``)."""
        n, m = _count_upto(self.steps, step), _count_upto(self.val_steps, step)
        train = {k: getattr(self, k)[n:] for k in ("steps", "losses", "seconds")}
        val = {k: getattr(self, k)[m:] for k in ("val_steps", "val_losses", "val_metrics")}
        return {**train, **val}

    def truncate(self, step):
        """Forget what came after ``step``."""
        n, m = _count_upto(self.steps, step), _count_upto(self.val_steps, step)
        for k in ("steps", "losses", "seconds"):
            setattr(self, k, getattr(self, k)[:n])
        for k in ("val_steps", "val_losses", "val_metrics"):
            setattr(self, k, getattr(self, k)[:m])


def _count_upto(steps, step):
    return sum(1 for s in steps if s <= step)  # steps ascend


def append_history(path, history, after):
    """Append what ``history`` holds after step ``after`` to ``path``: one JSON line.

    Each save appends only its new steps, so saving costs the same at step 100 and at
    step 100,000. A run resumed from an older checkpoint appends its steps again; the
    reader keeps the later copy.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"after": after, **history.after(after)}) + "\n"
    with open(path, "a+b") as f:
        if f.seek(0, os.SEEK_END):
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a line torn by a crash: keep it apart from this one
                f.write(b"\n")
        f.write(line.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def read_history(path, upto):
    """The `History` in ``path`` (written by `append_history`) up to step ``upto``."""
    history = History()
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for line in lines:
        try:
            part = json.loads(line)
        except ValueError:
            continue  # torn by a crash while it was written: its checkpoint never was
        history.truncate(part["after"])  # a resumed run's steps replace the old ones
        for k, values in part.items():
            if k != "after":
                getattr(history, k).extend(values)
    history.truncate(upto)
    return history


def _as_loss_and_metrics(out):
    if isinstance(out, (tuple, list)):
        loss, metrics = out
        return loss, dict(metrics)
    return out, {}


class WorkerLostError(UserError):
    """Another worker of a multi-worker run died or stopped answering."""


def _worker_lost(error, step):
    """A `WorkerLostError` saying which worker TensorFlow lost, and how, in one line."""
    text = str(getattr(error, "message", error))
    tasks = sorted(set(re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text)))
    who = ", ".join(f"{job} {task}" for job, task in tasks) or "another worker"
    if "heartbeat" in text:
        how = "it stopped sending heartbeats"
    elif isinstance(error, tf.errors.DeadlineExceededError):
        how = f"no answer in {COLLECTIVE_TIMEOUT_SECONDS:.0f} s"
    else:
        lines = [line for line in text.splitlines() if "aborted by:" in line]
        how = (lines[0].split("aborted by:", 1)[1] if lines else text.splitlines()[0]).strip()
    return WorkerLostError(
        f"lost contact with {who} after step {step} ({how[:120]}): training stopped; "
        "start every worker again with --resume"
    )


# What a collective raises when a worker it waits for is gone.
_COLLECTIVE_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
    tf.errors.CancelledError,
)


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``loss_fn`` (see module docstring).

    Args:
        model: a Keras model (built in ``strategy.scope()`` when a strategy is given).
        optimizer: a Keras optimizer (gradient clipping: its ``global_clipnorm``).
        loss_fn: ``loss_fn(model, batch, training)`` returning a scalar loss, or
            ``(loss, {name: scalar})``; the loss is a mean over the batch it sees.
        out_dir: where checkpoints, ``history.json`` and ``loss.png`` go.
        config: a `TrainConfig`.
        strategy: a ``tf.distribute.Strategy`` or None for the current one.
        tracker: a `tfdl.tracking.Tracker` or None.
        progress: show a tqdm progress bar.
        clock: a function returning seconds, for ``history.seconds`` and the time
            budget (tests pass a fake one).
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
        clock=time.perf_counter,
    ):
        self.strategy = strategy or tf.distribute.get_strategy()
        if model.dtype_policy.compute_dtype == "float16" and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            # float16 gradients underflow: scale the loss up, the gradients back down.
            with self.strategy.scope():
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.out_dir = Path(out_dir)
        self.config = config or TrainConfig()
        self.tracker = tracker
        self.progress = progress
        self.clock = clock
        self.checkpoints = CheckpointDir(self.out_dir / "checkpoints", self.config.keep_checkpoints)
        self.history_path = self.checkpoints.directory / HISTORY_FILE
        self.multiworker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        with self.strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._train_step = tf.function(self._distributed_train_step)
        self._eval_step = tf.function(self._distributed_eval_step)
        self._sum_over_workers = tf.function(self._distributed_sum)

    # -- one step ------------------------------------------------------------------

    def _replica_train_step(self, batch):
        variables = self.model.trainable_variables
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            loss, metrics = _as_loss_and_metrics(self.loss_fn(self.model, batch, training=True))
            loss = tf.cast(loss, tf.float32)  # a mixed-precision model's may be bfloat16
            if self.model.losses:  # regularisers declared by the model's layers
                loss = loss + tf.add_n([tf.cast(x, tf.float32) for x in self.model.losses])
            # Gradients are summed across replicas, so each replica scales its share.
            scaled = loss / replicas
            # LossScaleOptimizer multiplies by its loss scale (others return it as is).
            to_differentiate = self.optimizer.scale_loss(scaled)
        grads = tape.gradient(to_differentiate, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        metrics = {k: tf.cast(v, tf.float32) / replicas for k, v in metrics.items()}
        return {"loss": scaled, **metrics}

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

    def _distributed_sum(self, value):
        # An all-reduce: every worker waits here until all have arrived.
        per_replica = self.strategy.run(tf.identity, args=(value,))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def train_step(self, batch):
        """One optimizer step on ``batch`` (a global batch); returns its loss and metrics.

        `fit` takes its steps through the same compiled function; this is for code that
        times or drives single steps (the music recipe's speed probe).
        """
        if not self.optimizer.built:
            self._build()
        if self.strategy.num_replicas_in_sync > 1:  # split it as a dataset's batch would be
            batch = next(iter(self.strategy.experimental_distribute_dataset(
                tf.data.Dataset.from_tensors(batch)
            )))  # fmt: skip
        return {k: float(v) for k, v in self._train_step(batch).items()}

    # -- evaluation ----------------------------------------------------------------

    def evaluate(self, data):
        """Loss and metrics over a finite dataset (one pass), averaged per example."""
        totals = {}
        for batch in self.strategy.experimental_distribute_dataset(data):
            for k, v in self._eval_step(batch).items():
                totals[k] = totals.get(k, 0.0) + float(v)
        examples = totals.pop(_EXAMPLES, 0.0)
        if examples == 0:
            raise UserError("validation data is empty: it yielded no batch")
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

    def _checkpoint(self):
        """``(to save, to restore)``: tf.train.Checkpoints of everything a step changes.

        The dropout layers' random states (Keras seed generators: variables, but no
        weights) are saved too, so a resumed run drops what an uninterrupted one
        would; they are restored apart, as checkpoints written before tfdl saved them
        have none.

        The model's weights are also listed explicitly: tf.train.Checkpoint does not
        look into the layers a Keras 3 model keeps in a Python list, so without the list
        their non-trainable weights (batch-norm statistics) would not be saved.
        Checkpoints written before hold the weights only under ``model``, and restore as
        they are (the list's variables are the model's own).
        """
        weights = {id(w) for w in self.model.weights}
        seeds = [v for v in self.model.variables if id(v) not in weights]
        # The loss scale of a LossScaleOptimizer is not kept: it re-adapts in a few steps.
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        state = {"model": self.model, "weights": list(self.model.weights),
                 "optimizer": optimizer, "step": self.step}  # fmt: skip
        return tf.train.Checkpoint(**state, seeds=seeds), tf.train.Checkpoint(**state), seeds

    def _restore(self):
        """Restore the latest checkpoint; returns the `History` up to its step."""
        _, restorable, seeds = self._checkpoint()
        path = self.checkpoints.latest()
        meta = self.checkpoints.restore(restorable, model_identity(self.model), path)
        tf.train.Checkpoint(seeds=seeds).read(str(path / "state")).expect_partial()
        step = int(self.step.numpy())
        if "history" in meta:  # written before the history had a file of its own
            history = History.from_dict(meta["history"])
            history.truncate(step)
        else:
            history = read_history(self.history_path, step)
        return history

    def _save(self, ckpt, history):
        step = int(self.step.numpy())
        meta = {"model": model_identity(self.model)}
        if is_chief(self.strategy):
            # The history first: a complete checkpoint always has its steps on disk.
            append_history(self.history_path, history, self._history_saved)
            self._history_saved = step
            self.checkpoints.save(ckpt, step, meta)
        else:
            # Every worker saves (saving can run collectives the others wait for); only
            # the chief's copy is kept.
            with tempfile.TemporaryDirectory(prefix="tfdl-worker-") as scratch:
                CheckpointDir(scratch).save(ckpt, step, meta)
        if self.multiworker:  # the chief's files are complete before anyone goes on
            self._sum_over_workers(tf.constant(0.0))

    def _any_worker(self, flag):
        """``flag`` on this worker or any other (several workers stop at the same step)."""
        if not self.multiworker:
            return flag
        return float(self._sum_over_workers(tf.constant(float(flag)))) > 0

    def fit(self, train_data, val_data=None, resume=False, skip_seen=True):
        """Train for ``config.steps`` steps in total (counting steps done before a resume),
        or until ``config.max_seconds`` runs out, whichever comes first.

        ``train_data`` is a ``tf.data.Dataset`` of batches, repeated if it runs out;
        or a function ``train_data(start)`` that returns the batches from step
        ``start + 1`` on (``start`` steps are done), such as a stream whose every
        batch is a pure function of its step: a resume then starts right there.
        Returns a `History`. Ctrl-C saves a checkpoint and returns with
        ``history.interrupted = True``.

        Resume restores model, optimizer and step. A dataset then skips the batches
        already seen, so a seeded pipeline continues exactly where it stopped (this
        replays the input pipeline, not the model). Pass ``skip_seen=False`` when
        ``train_data`` is a fresh dataset that starts where the run stopped (e.g. one
        ``fit`` per epoch, each with newly drawn batches).
        """
        cfg = self.config
        ckpt, history, iterator = self._begin(train_data, resume, skip_seen)
        start = int(self.step.numpy())
        # Continue the clock of the run being resumed, so seconds[-1] is its total time.
        budget = _Budget(cfg.max_seconds, self.clock, history.seconds[-1] if history.seconds else 0)
        bar = _ProgressBar(cfg.steps, start, self.progress, history)
        best = None  # (val loss, step, weights) under keep_best
        try:
            while int(self.step.numpy()) < cfg.steps:
                # The first step of a fit includes compiling it: not a step's time.
                with budget.timing("step", count=int(self.step.numpy()) > start):
                    values = {k: float(v) for k, v in self._train_step(next(iterator)).items()}
                step = int(self.step.numpy())
                history.steps.append(step)
                history.losses.append(values["loss"])
                history.seconds.append(budget.elapsed())
                last = step == cfg.steps or (
                    cfg.max_seconds is not None  # (a collective: only under a budget)
                    and self._any_worker(budget.no_time_for_another_step())
                )
                bar.after_step(values["loss"], budget.left())
                if self.tracker is not None and step % cfg.log_every == 0:
                    self.tracker.log_metrics(values, step=step)
                if val_data is not None and (step % cfg.eval_every == 0 or last):
                    with budget.timing("eval"):
                        val = self._validate(val_data, step, history)
                    if cfg.keep_best and (best is None or val["loss"] < best[0]):
                        best = (val["loss"], step, self.model.get_weights())
                    bar.after_validation(val["loss"])
                bar.show()
                if step % cfg.checkpoint_every == 0 or last:
                    with budget.timing("save"):
                        self._save(ckpt, history)
                if last:
                    break
        except KeyboardInterrupt:
            history.interrupted = True
            bar.write(f"interrupted at step {int(self.step.numpy())}: saving a checkpoint")
            self._save(ckpt, history)
        except _COLLECTIVE_ERRORS as e:
            if not self.multiworker:
                raise
            raise _worker_lost(e, history.steps[-1] if history.steps else start) from None
        finally:
            bar.close()
        if best is not None and history.val_losses and best[0] < history.val_losses[-1]:
            self.model.set_weights(best[2])
            history.best_step = best[1]
        self._finish(history)
        return history

    def _begin(self, train_data, resume, skip_seen):
        """``(checkpoint, history, batch iterator)`` for a fit, restored when resuming."""
        self._build()
        ckpt, _, _ = self._checkpoint()
        history = History()
        if not resume and self.checkpoints.latest() is not None:
            # Starting over here would interleave two runs' checkpoints: refuse.
            raise CheckpointError(
                f"{self.checkpoints.directory} already holds checkpoints: resume, or train "
                "into another directory"
            )
        if resume:
            history = self._restore()
        start = int(self.step.numpy())
        self._history_saved = start
        if callable(train_data):
            dataset = train_data(start)
        else:
            dataset = train_data.repeat().skip(start if skip_seen else 0)
        if self.tracker is not None:
            self.tracker.log_parameters({"steps": self.config.steps, "start_step": start})
        return ckpt, history, iter(self.strategy.experimental_distribute_dataset(dataset))

    def _validate(self, val_data, step, history):
        """One pass over ``val_data`` at ``step``: recorded in ``history`` and the tracker."""
        val = self.evaluate(val_data)
        history.val_steps.append(step)
        history.val_losses.append(val["loss"])
        history.val_metrics.append(val)
        if self.tracker is not None:
            self.tracker.log_metrics({f"val_{k}": v for k, v in val.items()}, step=step)
        return val

    def _finish(self, history):
        if not is_chief(self.strategy):
            return
        from tfdl.plots import log_and_close, plot_loss

        write_text_atomic(self.out_dir / "history.json", json.dumps(history.to_dict()))
        log_and_close({"loss": plot_loss(history, self.out_dir / "loss.png")}, self.tracker)


def _minutes_seconds(seconds):
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


class _Budget:
    """A fit's clock, and under a time budget whether another step still fits in it.

    Another step is taken only while the time left holds the slowest step, validation
    pass and save seen so far: the run then ends with its final evaluation and
    checkpoint inside the budget.
    """

    def __init__(self, max_seconds, clock, seconds_before=0.0):
        self.max_seconds = max_seconds
        self.clock = clock
        self.started = clock() - seconds_before
        self.slowest = {"step": 0.0, "eval": 0.0, "save": 0.0}

    def elapsed(self):
        return self.clock() - self.started

    def left(self):
        """Seconds left in the budget, or None without one."""
        return None if self.max_seconds is None else self.max_seconds - self.elapsed()

    def no_time_for_another_step(self):
        left = self.left()
        return left is not None and left < sum(self.slowest.values())

    @contextlib.contextmanager
    def timing(self, what, count=True):
        began = self.clock()
        yield
        if count:
            self.slowest[what] = max(self.slowest[what], self.clock() - began)


class _ProgressBar:
    """The tqdm bar of a fit: running loss, latest validation loss, time left."""

    def __init__(self, steps, start, enabled, history):
        self.bar = tqdm(
            total=steps, initial=start, disable=not enabled, desc="train", unit="step",
            **progress_pacing(),
        )  # fmt: skip
        self.running = None
        self.postfix = {}
        if history.val_losses:
            self.postfix["val_loss"] = f"{history.val_losses[-1]:.4f}"

    def after_step(self, loss, seconds_left):
        # An exponential running mean: steadier than the last batch.
        self.running = loss if self.running is None else 0.9 * self.running + 0.1 * loss
        if seconds_left is not None:
            self.postfix["left"] = _minutes_seconds(max(0.0, seconds_left))
        self.postfix["loss"] = f"{self.running:.4f}"

    def after_validation(self, val_loss):
        self.postfix["val_loss"] = f"{val_loss:.4f}"

    def show(self):
        # No refresh of its own: the bar redraws at update(), paced by progress_pacing.
        self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(1)

    def write(self, message):
        self.bar.write(message)

    def close(self):
        self.bar.close()

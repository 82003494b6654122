"""Train the music RNN on ABC tunes with the shared trainer (``tfdl music train``)."""

import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from tfdl import task
from tfdl.command import worker_out_dir
from tfdl.errors import UserError
from tfdl.music import abc
from tfdl.music.config import MusicConfig
from tfdl.music.dataset import fixed_windows, join_tunes, random_windows
from tfdl.music.generate import SongSampler
from tfdl.music.lookback import BarLookback, LookbackRNN, lookback_for, text_offers
from tfdl.music.model import MusicRNN, music_loss  # noqa: F401  (tfdl.music.train.music_loss)
from tfdl.music.rebar import slide_copies
from tfdl.music.recipe import dropout_for, fit_recipe, lab_recipe, music_model
from tfdl.music.saved import VOCAB_FILE, load_music_model, save_music_model
from tfdl.music.transpose import transpositions
from tfdl.music.vocab import Vocabulary
from tfdl.training import TrainConfig, Trainer, is_chief


def learning_rate(config):
    """The optimizer's learning rate: a number, or a schedule over optimizer steps.

    A schedule reads ``optimizer.iterations``, which checkpoints hold, so a resumed
    run continues on the same curve.
    """
    if config.lr_schedule == "cosine":
        warmup = config.warmup_steps or 0
        if warmup:
            # From 1 % up to learning_rate over `warmup` steps, then down to 1 % of it.
            return keras.optimizers.schedules.CosineDecay(
                config.learning_rate * 0.01,
                decay_steps=max(1, config.steps - warmup),
                alpha=0.01,
                warmup_target=config.learning_rate,
                warmup_steps=warmup,
            )
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.steps, alpha=0.01
        )
    return config.learning_rate


def _vocabulary(path, tunes, resume):
    """The corpus vocabulary; on resume, the saved one (which the checkpoints were built on)."""
    if resume and path.is_file():
        vocab = Vocabulary.load(path)
        missing = vocab.unknown(join_tunes(tunes))
        if missing:
            raise UserError(f"the data has characters the run being resumed never saw: {missing}")
        return vocab
    return Vocabulary.from_text(join_tunes(tunes))


def _starting_model(init_from, data_vocab, config, data_name):
    """``(model, vocab)`` saved in ``init_from``, checked to fit this run's data.

    Its vocabulary must hold every character of the data (``data_vocab``); the run
    keeps it, so the embedding and output rows fit. On the same data, the run must hold
    out the same tunes as the model it starts from: another split, or another held-out
    book, would train on tunes that model was scored on and report a loss that is too
    good.
    """
    model, vocab, saved = load_music_model(init_from)
    if saved.get("data") == data_name:
        val_fraction, seed = abc.saved_split(saved)
        if (seed, val_fraction) != (config.seed, config.val_fraction):
            raise UserError(
                f"{init_from} held out its validation tunes with seed, val_fraction = "
                f"{(seed, val_fraction)}; this run's {(config.seed, config.val_fraction)} would "
                f"train on them and report a val_loss that is too good: pass --seed {seed}"
            )
        book = saved.get("hold_out_book")
        if book != config.hold_out_book:
            raise UserError(
                f"{init_from} held out the book {book}; this run holds out {config.hold_out_book}"
                f" and would train on tunes that model was scored on: pass --hold-out-book {book}"
            )
    missing = vocab.unknown("".join(data_vocab.chars))
    if missing:
        raise UserError(f"{init_from} never saw these characters of the data: {missing}")
    return model, vocab


def _starting_weights(model, init_from, config, lookback):
    """The weights of ``model`` (from `_starting_model`), checked to fit this run's model."""
    if isinstance(model, LookbackRNN) != bool(config.lookback):
        raise UserError(
            f"{init_from} is a {type(model).__name__}; this run "
            + ("asks for a LookbackRNN (--lookback)" if config.lookback else "has no --lookback")
        )
    if config.lookback and model.lookback_config != lookback:
        raise UserError(f"{init_from} reads bar lines with other lookback settings than this run")
    sizes = (model.embedding_dim, model.rnn_units)
    if sizes != (config.embedding_dim, config.rnn_units):
        raise UserError(
            f"{init_from} has embedding_dim, rnn_units = {sizes}; this run asks for "
            f"{(config.embedding_dim, config.rnn_units)}"
        )
    return model.get_weights()


# The run record's name for tunes from a --data file (a resume without --data reads it).
DATA_FILE = "file"

# Settings that may differ on resume: how often to evaluate, save and sample.
_FREE_ON_RESUME = {"checkpoint_every", "eval_every", "sample_songs", "steps", "minutes"}


def _same_cosine_end(config, saved):
    """A cosine schedule ends at the run's planned steps: a resume keeps them."""
    if saved["lr_schedule"] == "cosine" and config.steps not in (None, saved["steps"]):
        raise UserError(
            f"steps is {config.steps} but the run being resumed planned {saved['steps']}, where "
            "its cosine schedule ends: resume without --steps"
        )


def _choose_recipe(config, budget_seconds, ids, vocab_size, lookback, log, data_chars):
    """``(config, why)``: ``config`` with every setting its recipe leaves open filled in
    (``data_chars``: the tunes' own characters, which ``ids`` may hold transposed too)."""
    name = config.recipe_name()
    if name == "auto":
        settings, why = fit_recipe(budget_seconds, ids, vocab_size, config.chosen(), log,
                                   lookback=lookback, data_chars=data_chars)  # fmt: skip
    else:
        settings, why = lab_recipe(budget_seconds, ids, vocab_size, config.chosen(), log,
                                   lookback=lookback)  # fmt: skip
    return dataclasses.replace(config, recipe=name, **settings), why


def _flat(prefix, values):
    """A nested dict as flat Comet parameters: ``{prefix_key.inner: value}``."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(f"{prefix}_{key}", value))
        else:
            flat[f"{prefix}_{key}"] = ", ".join(value) if isinstance(value, list) else value
    return flat


def _intervals(config):
    """Evaluation and checkpoint intervals: the config's, or about ten per run."""
    tenth = max(1, config.steps // 10)
    budgeted = config.minutes is not None
    every = {
        "eval_every": config.eval_every or (tenth if budgeted else 250),
        "checkpoint_every": config.checkpoint_every or (tenth if budgeted else 500),
    }
    return {k: min(v, config.steps) for k, v in every.items()}


def _train_config(config, max_seconds):
    """The trainer's settings for a run whose recipe has chosen them all."""
    # A budgeted run ends with its best validated weights: a long budget on a small
    # corpus can reach its best before the end, and the user asked for the best model.
    return TrainConfig(
        steps=config.steps,
        max_seconds=max_seconds,
        keep_best=config.minutes is not None,
        **_intervals(config),
    )


def _split_tunes(config, data, resume=False):
    """``(tunes, train, val, book, augmented, slides)``: the data's tunes (less a held-out
    book), split for training (with ``--slides``' copies) and validation, the held-out
    book's tunes, ``(train with its transposed copies, how many copies)`` where the run
    may transpose (``--transpose``, or the auto recipe's choice: see
    `_budget_transposition`), else None, and how many slides were added."""
    if config.hold_out_book and data is not None:
        raise UserError("--hold-out-book holds out a book of the shipped corpus: drop --data")
    tunes = abc.load_corpus() if data is None else abc.load_tunes(data)
    book = []
    if config.hold_out_book:  # the run's own (a resumed run's from run.json)
        tunes, book = abc.split_off_book(tunes, config.hold_out_book)
    train, val = abc.train_val_split(tunes, config.val_fraction, config.seed)
    if not val:
        raise UserError(f"need at least 2 tunes to hold some out for validation, got {len(tunes)}")
    slides = slide_copies(train, config.slides, config.seed)
    train = train + slides
    auto = config.transpose is None and config.recipe_name() == "auto" and not resume
    augmented = transpositions(train) if config.transpose or auto else None
    return tunes, train, val, book, augmented, len(slides)


# The auto recipe transposes (unless --no-transpose) when its budget would go over the
# untransposed training tunes more than this many times: where dropout alone was not
# enough. On the 800-tune subset, --minutes 20 (34 epochs) ended at 1.336 nats/char
# untransposed and 1.270 transposed; the lab's 2,000 steps at 1.428 (bench/
# transpose_results.json, bench/budget_results.json).
TRANSPOSE_EPOCHS = 8.0


def _budget_transposition(config, why, plain_chars, augmented_chars):
    """``(config, why)`` with the auto recipe's choice of ``transpose``: on where the
    budget's epochs over the ``plain_chars`` training characters pass
    ``TRANSPOSE_EPOCHS``. The recipe was fitted to the transposed corpus; without it,
    dropout follows the untransposed corpus's epochs (the user's dropout stays)."""
    chars = config.steps * config.batch_size * config.seq_length
    epochs = chars / plain_chars
    transpose = epochs > TRANSPOSE_EPOCHS
    why = {
        **why,
        "untransposed_epochs": round(epochs, 2),
        "transpose_rule": f"transpose where untransposed epochs exceed {TRANSPOSE_EPOCHS}",
    }
    if not transpose:
        why["planned_epochs"] = round(epochs, 2)
        if "dropout" not in why["user_fixed"]:
            config = dataclasses.replace(config, dropout=dropout_for(epochs))
    else:
        why["planned_epochs"] = round(chars / augmented_chars, 2)
    return dataclasses.replace(config, transpose=transpose), why


def train_music(
    config=None,
    out_dir="runs/music",
    data=None,
    *,
    resume=False,
    tracking="offline",
    strategy=None,
    progress=True,
    init_from=None,
    log=None,
):
    """Train a `MusicRNN` and save it in ``out_dir``; returns a summary dict.

    Args:
        config: a `MusicConfig` (default: the lab's recipe).
        out_dir: receives model.keras, vocab.json, settings.json, checkpoints/,
            history.json, loss.png, samples.abc and the Comet archive (offline).
        data: an ABC file or directory; None means the shipped corpus.
        resume: continue from the last checkpoint in ``out_dir``, with the settings
            and schedule of the run that wrote it.
        tracking: "off", "offline" or "online" (see `tfdl.tracking`).
        strategy: a ``tf.distribute`` strategy, or None. Under several workers only
            the chief's files stay (`tfdl.command.worker_out_dir`); every worker needs
            ``out_dir`` (shared storage).
        init_from: a saved model directory to start from (fine-tuning); its
            vocabulary must hold every character of the data (the run keeps it)
            and its sizes must match this run's.
        log: a function that prints one line (the recipe's probe reports through it).
    """
    started = time.perf_counter()
    config = config or MusicConfig()
    out_dir = Path(out_dir)
    if resume:  # the run's settings, and its recipe's (checkpoints/run.json)
        config = task.resumed_config(
            MusicConfig, config, out_dir, free=_FREE_ON_RESUME, check=_same_cosine_end
        )
        data = task.resumed_data(out_dir, data, (DATA_FILE,))  # the run's --data file
    else:
        task.refuse_to_overwrite(out_dir)
    tunes, train_tunes, val_tunes, book_tunes, augmented, slides = _split_tunes(
        config, data, resume
    )
    strategy = strategy or tf.distribute.get_strategy()
    multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    probing = config.minutes and (config.steps is None or config.recipe_name() == "auto")
    if multiworker and not resume and probing:
        raise UserError(
            "--minutes with several workers needs --steps and --recipe lab: each worker "
            "would time its own probe of this machine's speed and choose differently"
        )
    # The checkpoints' own copy of the vocabulary; out_dir/vocab.json is only replaced
    # together with model.keras, so a crash never leaves a model beside the wrong vocabulary.
    training = augmented[0] if augmented else train_tunes  # the most the run may train on
    vocab = _vocabulary(out_dir / "checkpoints" / VOCAB_FILE, [*tunes, *training], resume)
    data_name = str(data) if data is not None else abc.SHIPPED_CORPUS
    start_model = None
    if init_from and not resume:
        start_model, vocab = _starting_model(init_from, vocab, config, data_name)
    plain_ids = vocab.encode(join_tunes(train_tunes))
    train_ids = plain_ids if augmented is None else vocab.encode(join_tunes(training))
    lookback = lookback_for(vocab) if config.lookback else None  # BarLookback's settings
    config, why, max_seconds = _recipe(config, out_dir, resume, started, train_ids, vocab,
                                       lookback, log, len(plain_ids))  # fmt: skip
    if config.transpose is None and augmented is not None:  # the auto recipe's to choose
        config, why = _budget_transposition(config, why, len(plain_ids), len(train_ids))
    transposed = 0
    if config.transpose:
        train_tunes, transposed = augmented
    else:
        train_ids = plain_ids
    val_ids = vocab.encode(join_tunes(val_tunes))
    train_offers = val_offers = None  # a lookback model's offers, read over whole tunes
    if lookback is not None:
        reader = BarLookback(**lookback)
        train_offers, val_offers = text_offers(reader, train_ids), text_offers(reader, val_ids)
    val_data = fixed_windows(val_ids, config.seq_length, config.batch_size, val_offers)
    run = _MusicRun(
        config, strategy, vocab, lookback, train_ids, val_data, why, max_seconds, resume,
        progress, data=str(data or abc.corpus_path()), train_offers=train_offers,
        source={"source": DATA_FILE if data is not None else "shipped", "data": data_name}, facts={
            "vocab_size": len(vocab),
            "train_tunes": len(train_tunes),
            "slide_tunes": slides,
            "transposed_tunes": transposed,
            "val_tunes": len(val_tunes),
            "held_out_book_tunes": len(book_tunes),
            "init_from": str(init_from) if init_from else None,
        },
    )  # fmt: skip
    if start_model is not None:
        run.start = _starting_weights(start_model, init_from, config, lookback)
    with worker_out_dir(out_dir, strategy) as out:
        return run.train(out, tracking if is_chief(strategy) else "off")


def _recipe(config, out_dir, resume, started, train_ids, vocab, lookback, log, data_chars):
    """``(config, why, max_seconds)``: the run's settings with its recipe's choices, the
    reasons for them, and the time budget left for the trainer (None: no budget). A
    resumed run's come from its record."""
    if resume:
        run = task.saved_run(out_dir)
        return config, run["recipe"], run["max_seconds"]
    budget = config.minutes * 60 - (time.perf_counter() - started) if config.minutes else None
    config, why = _choose_recipe(config, budget, train_ids, len(vocab), lookback, log, data_chars)
    # The budget left for the trainer: what the data, the probe and the model leave.
    max_seconds = None
    if config.minutes:
        max_seconds = max(1.0, config.minutes * 60 - (time.perf_counter() - started))
    return config, why, max_seconds


@dataclass
class _MusicRun:
    """A music run, prepared: what `task.run_training` calls back to train it."""

    config: MusicConfig
    strategy: object
    vocab: Vocabulary
    lookback: dict | None  # BarLookback's settings, or None: a MusicRNN
    train_ids: object  # the encoded training tunes
    val_data: object  # a tf.data.Dataset of the validation tunes' windows
    why: dict  # the recipe's reasons
    max_seconds: float | None
    resume: bool
    progress: bool
    data: str  # where the tunes came from, for the tracker
    facts: dict  # the settings' counts and sources (``source`` holds the data's name)
    start: list | None = None  # the weights to start from (--init-from)
    train_offers: object = None  # a lookback model's offers for train_ids (`text_offers`)
    source: dict = None  # where the data came from, for a resume (`task.resumed_data`)

    def train(self, out, tracking):
        record = {"recipe": self.why, "max_seconds": self.max_seconds}
        return task.run_training(
            "music", self.config, out, self.source, self.build, functools.partial(self.fit, out),
            _no_test, tracking=tracking, resume=self.resume, record=record,
            summary=self.summary, save=self.save,
        )  # fmt: skip

    def build(self, config):
        with self.strategy.scope():
            model = music_model(len(self.vocab), config.embedding_dim, config.rnn_units,
                                config.dropout, self.lookback)  # fmt: skip
            model.build((None, None))
            if self.start is not None:
                model.set_weights(self.start)
        return model

    def fit(self, out, model, tracker):
        config = self.config
        counts = ("vocab_size", "train_tunes", "transposed_tunes", "val_tunes")
        parameters = {**_flat("recipe", self.why), **{k: self.facts[k] for k in counts}}
        tracker.log_parameters({**parameters, "data": self.data})
        with self.strategy.scope():
            optimizer = keras.optimizers.Adam(
                learning_rate(config), global_clipnorm=config.clip_norm
            )
        trainer = Trainer(
            model, optimizer, music_loss, out, _train_config(config, self.max_seconds),
            strategy=self.strategy, tracker=tracker, progress=self.progress,
        )  # fmt: skip

        def train_data(start):  # the batches from step start + 1 on: none replayed on resume
            return random_windows(
                self.train_ids, config.seq_length, config.batch_size, config.seed, start,
                self.train_offers,
            )  # fmt: skip

        self.vocab.save(out / "checkpoints" / VOCAB_FILE)
        return trainer.fit(train_data, val_data=self.val_data, resume=self.resume)

    def summary(self, history):
        """The settings the history gives: the validation loss of the weights kept."""
        val_loss = history.val_losses[-1] if history.val_losses else float("nan")
        if history.best_step is not None:  # the model holds the weights of its best step
            val_loss = history.val_losses[history.val_steps.index(history.best_step)]
        return {
            **self.facts,
            "recipe_why": self.why,
            "val_loss": val_loss,
            "best_step": history.best_step,
            "val_bits_per_char": val_loss / math.log(2),
            # The trainer's clock, which a resume continues: the whole run's time.
            "train_seconds": round(history.seconds[-1] if history.seconds else 0.0, 1),
        }

    def save(self, out, model, settings, tracker):
        """model.keras, vocab.json and settings.json; then samples.abc, the model's songs
        as a check by ear (also to the tracker)."""
        save_music_model(out, model, self.vocab, settings)
        n = self.config.sample_songs
        if not n or settings["interrupted"]:
            return
        songs = SongSampler(model, self.vocab).sample(n, length=1500, seed=self.config.seed)
        (out / "samples.abc").write_text("\n\n".join(songs) + "\n")
        tracker.log_asset(out / "samples.abc")
        for i, song in enumerate(songs, 1):
            tracker.log_text(song, metadata={"sample": i, "step": settings["steps_done"]})


def _no_test(model, tracker):
    """Music has no test split: the validation tunes score it (`_MusicRun.summary`)."""
    return {}

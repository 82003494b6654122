"""Train the music RNN on ABC tunes with the shared trainer (``tfdl music train``)."""

import dataclasses
import json
import math
import time
from pathlib import Path

import keras
import tensorflow as tf

from tfdl import task
from tfdl.checkpoints import CheckpointDir, CheckpointError, write_text_atomic
from tfdl.errors import UserError
from tfdl.music import abc
from tfdl.music.config import MusicConfig
from tfdl.music.dataset import fixed_windows, join_tunes, random_windows
from tfdl.music.generate import SongSampler
from tfdl.music.lookback import BarLookback, LookbackRNN, lookback_for, text_offers
from tfdl.music.model import MusicRNN, music_loss  # noqa: F401  (tfdl.music.train.music_loss)
from tfdl.music.recipe import fit_recipe, lab_recipe, music_model
from tfdl.music.saved import VOCAB_FILE, load_music_model, save_music_model
from tfdl.music.transpose import transpositions
from tfdl.music.vocab import Vocabulary
from tfdl.task import RUN_FILE, refuse_changes
from tfdl.tracking import make_tracker
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


# Settings that may differ on resume: how often to evaluate, save and sample.
_FREE_ON_RESUME = {"checkpoint_every", "eval_every", "sample_songs", "steps", "minutes"}


def _resumed_config(config, saved):
    """The saved run's config; a setting given now that differs from it is refused."""
    given = {k: v for k, v in dataclasses.asdict(config).items() if v is not None}
    refuse_changes(given, saved, free=_FREE_ON_RESUME)
    if saved["lr_schedule"] == "cosine" and given.get("steps", saved["steps"]) != saved["steps"]:
        raise UserError(
            f"steps is {config.steps} but the run being resumed planned {saved['steps']}, where "
            "its cosine schedule ends: resume without --steps"
        )
    fields = {f.name for f in dataclasses.fields(MusicConfig)}
    free = {k: v for k, v in given.items() if k in _FREE_ON_RESUME}
    return MusicConfig(**{**{k: v for k, v in saved.items() if k in fields}, **free})


def _choose_recipe(config, budget_seconds, ids, vocab_size, lookback, log):
    """``(config, why)``: ``config`` with every setting its recipe leaves open filled in."""
    name = config.recipe_name()
    choose = fit_recipe if name == "auto" else lab_recipe
    settings, why = choose(budget_seconds, ids, vocab_size, config.chosen(), log, lookback=lookback)
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
            the chief writes files; every worker needs ``out_dir`` (shared storage).
        init_from: a saved model directory to start from (fine-tuning); its
            vocabulary must hold every character of the data (the run keeps it)
            and its sizes must match this run's.
        log: a function that prints one line (the recipe's probe reports through it).
    """
    started = time.perf_counter()
    config = config or MusicConfig()
    out_dir = Path(out_dir)
    if not resume and CheckpointDir(out_dir / "checkpoints").latest() is not None:
        raise CheckpointError(
            f"{out_dir} already holds checkpoints: pass --resume, or train into another --out"
        )
    # The checkpoints' record of the run they belong to (tfdl.task's run.json): its
    # settings and the recipe's reasons, so a resume continues the same run.
    run_file = out_dir / "checkpoints" / RUN_FILE
    saved_run = task.saved_run(out_dir) if resume else None
    if saved_run is not None:
        config = _resumed_config(config, saved_run["config"])
    if config.hold_out_book and data is not None:
        raise UserError("--hold-out-book holds out a book of the shipped corpus: drop --data")
    tunes = abc.load_corpus() if data is None else abc.load_tunes(data)
    book_tunes = []
    if config.hold_out_book:  # the run's own (a resumed run's from run.json)
        tunes, book_tunes = abc.split_off_book(tunes, config.hold_out_book)
    strategy = strategy or tf.distribute.get_strategy()
    multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    probing = config.minutes and (config.steps is None or config.recipe_name() == "auto")
    if multiworker and saved_run is None and probing:
        raise UserError(
            "--minutes with several workers needs --steps and --recipe lab: each worker "
            "would time its own probe of this machine's speed and choose differently"
        )
    train_tunes, val_tunes = abc.train_val_split(tunes, config.val_fraction, config.seed)
    transposed = 0
    if config.transpose:
        train_tunes, transposed = transpositions(train_tunes)
    if not val_tunes:
        raise UserError(f"need at least 2 tunes to hold some out for validation, got {len(tunes)}")
    # The checkpoints' own copy of the vocabulary; out_dir/vocab.json is only replaced
    # together with model.keras, so a crash never leaves a model beside the wrong vocabulary.
    checkpoint_vocab = out_dir / "checkpoints" / VOCAB_FILE
    vocab = _vocabulary(checkpoint_vocab, [*tunes, *train_tunes], resume)  # transposed too
    data_name = str(data) if data is not None else abc.SHIPPED_CORPUS
    start = start_model = None
    if init_from and not resume:
        start_model, vocab = _starting_model(init_from, vocab, config, data_name)
    train_ids = vocab.encode(join_tunes(train_tunes))

    lookback = lookback_for(vocab) if config.lookback else None  # BarLookback's settings
    if saved_run is not None:
        why, max_seconds = saved_run["recipe"], saved_run["max_seconds"]
    else:
        budget = config.minutes * 60 - (time.perf_counter() - started) if config.minutes else None
        config, why = _choose_recipe(config, budget, train_ids, len(vocab), lookback, log)
        # The budget left for the trainer: what the data, the probe and the model leave.
        max_seconds = None
        if config.minutes:
            max_seconds = max(1.0, config.minutes * 60 - (time.perf_counter() - started))
    if start_model is not None:
        start = _starting_weights(start_model, init_from, config, lookback)
    chief = is_chief(strategy)
    if saved_run is None and chief:
        run = {"config": dataclasses.asdict(config), "recipe": why, "max_seconds": max_seconds}
        write_text_atomic(run_file, json.dumps(run, indent=2))

    val_ids = vocab.encode(join_tunes(val_tunes))
    train_offers = val_offers = None  # a lookback model's offers, read over whole tunes
    if lookback is not None:
        reader = BarLookback(**lookback)
        train_offers, val_offers = text_offers(reader, train_ids), text_offers(reader, val_ids)

    def train_data(start):  # the batches from step start + 1 on: none replayed on resume
        return random_windows(
            train_ids, config.seq_length, config.batch_size, config.seed, start, train_offers
        )

    val_data = fixed_windows(val_ids, config.seq_length, config.batch_size, val_offers)

    with strategy.scope():
        keras.utils.set_random_seed(config.seed)
        model = music_model(
            len(vocab), config.embedding_dim, config.rnn_units, config.dropout, lookback
        )
        model.build((None, None))
        if start is not None:
            model.set_weights(start)
        optimizer = keras.optimizers.Adam(learning_rate(config), global_clipnorm=config.clip_norm)

    tracking = tracking if chief else "off"
    tracker = make_tracker(tracking, out_dir, experiment_name=f"music-{out_dir.name}")
    tracker.log_parameters(
        {
            **dataclasses.asdict(config),
            **_flat("recipe", why),
            "vocab_size": len(vocab),
            "train_tunes": len(train_tunes),
            "transposed_tunes": transposed,
            "val_tunes": len(val_tunes),
            "data": str(data or abc.corpus_path()),
            "parameters": model.count_params(),
        }
    )
    # A budgeted run ends with its best validated weights: a long budget on a small
    # corpus can reach its best before the end, and the user asked for the best model.
    train_config = TrainConfig(
        steps=config.steps,
        max_seconds=max_seconds,
        keep_best=config.minutes is not None,
        **_intervals(config),
    )
    trainer = Trainer(
        model,
        optimizer,
        music_loss,
        out_dir,
        train_config,
        strategy=strategy,
        tracker=tracker,
        progress=progress,
    )
    if chief:
        vocab.save(checkpoint_vocab)
    try:
        history = trainer.fit(train_data, val_data=val_data, resume=resume)
        val_loss = history.val_losses[-1] if history.val_losses else float("nan")
        if history.best_step is not None:  # the model holds the weights of its best step
            val_loss = history.val_losses[history.val_steps.index(history.best_step)]
        settings = {
            **dataclasses.asdict(config),
            "vocab_size": len(vocab),
            "parameters": model.count_params(),
            "steps_done": history.steps[-1] if history.steps else 0,
            "interrupted": history.interrupted,
            "train_tunes": len(train_tunes),
            "transposed_tunes": transposed,
            "val_tunes": len(val_tunes),
            "held_out_book_tunes": len(book_tunes),
            "data": data_name,
            "init_from": str(init_from) if init_from else None,
            "recipe_why": why,
            "val_loss": val_loss,
            "best_step": history.best_step,
            "val_bits_per_char": val_loss / math.log(2),
            "train_seconds": round(history.seconds[-1] if history.seconds else 0.0, 1),
        }
        if not chief:
            return settings
        save_music_model(out_dir, model, vocab, settings)
        tracker.log_asset(out_dir / "settings.json")
        if config.sample_songs and not history.interrupted:
            songs = SongSampler(model, vocab).sample(
                config.sample_songs, length=1500, seed=config.seed
            )
            (out_dir / "samples.abc").write_text("\n\n".join(songs) + "\n")
            tracker.log_asset(out_dir / "samples.abc")
            for n, song in enumerate(songs, 1):
                tracker.log_text(song, metadata={"sample": n, "step": settings["steps_done"]})
        return settings
    finally:
        tracker.end()

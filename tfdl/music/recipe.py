"""Training recipes: the lab's exact hyperparameters, or one fitted to a time budget.

``tfdl music train --minutes M`` asks: what is the best model this machine can train
on this data in M minutes? On small data the recipe decides that far more than the
kernel does (nanoGPT's speedruns, folk-rnn's configs), so `fit_recipe` chooses it
from measurements:

1. **Throughput probe.** Candidate sizes, smallest first, each compiled and timed
   for a few real training steps on the run's own data (at most 5 % of the budget).
2. **Size rule.** The largest size that sees at least ``CHARS_PER_PARAMETER``
   training characters per parameter in the budget. Below that ratio a larger model
   is still underfitted when time runs out, and a smaller one ends lower; the ratio
   comes from the held-out loss curves in ``bench/budget_results.json`` (see
   ``bench/budget_bench.py`` and its figure).
3. **Regularisation from epochs.** Dropout rises with how many times the budget
   goes over the corpus: a model that sees each tune once cannot overfit it, one
   that sees it 30 times will. Past 35 passes over the tunes' own text (transposed
   copies not counted) it is 0.35, so that a long budget on a small corpus can use
   them.
4. **Schedule.** Warm-up over the first steps, then cosine decay to 1 % at the
   last planned step, so the learning rate reaches its floor when the budget ends,
   or where the data runs out (``MAX_EPOCHS``), whichever comes first: a long budget
   on a small corpus stops early instead of overfitting.

Every choice goes into ``settings.json``: the recipe's name under ``recipe``, and the
measurements and rules behind it under ``recipe_why``. The measurements behind the
constants below are in ``bench/budget_results.json`` (``bench/budget_bench.py``) and the
README's section on time budgets; the comments say what each one decides.
"""

import functools
import tempfile
import time

import keras
import numpy as np

# The MIT lab's lab 1 hyperparameters, exactly: for people following the course.
LAB = {
    "batch_size": 8,
    "seq_length": 100,
    "embedding_dim": 256,
    "rnn_units": 1024,
    "learning_rate": 5e-3,
    "lr_schedule": "constant",
    "warmup_steps": 0,
    "dropout": 0.0,
    "clip_norm": None,
}
LAB_STEPS = 3000

# Candidate (embedding_dim, rnn_units), smallest first; the probe times them on the
# user's machine, so the large ones are chosen only where they train fast (GPUs) or the
# budget is long.
SIZES = ((32, 128), (64, 256), (96, 384), (128, 512), (128, 640), (192, 768), (256, 1024))
# 32 windows of 100 characters: the best of the batch x window sweep at a fixed budget
# (smaller and larger batches, and longer windows, ended higher). The budget buys
# updates, and an LSTM step costs in proportion to the window's length.
BATCH_SIZE = 32
SEQ_LENGTH = 100
# Adam's peak rate with warm-up and clipping: the best of the sweep (half of it and
# double it were no better), stable for 128 to 640 units.
LEARNING_RATE = 1e-2
CLIP_NORM = 1.0
# Warm-up: 5 % of the planned steps, at most 100.
WARMUP_FRACTION = 0.05
MAX_WARMUP_STEPS = 100
# The size rule's threshold: below it, in the same budget, the next size down ended
# lower (an underfitted large model loses to a trained small one).
CHARS_PER_PARAMETER = 4.0
# And a cap from the data: at most this many parameters per training character. A
# long budget on a small corpus chose a model with about 7 parameters per character,
# which overfitted after a third of its budget; one with about 2 did not.
MAX_PARAMETERS_PER_CHAR = 2.5
# A transposed copy of a tune teaches less than a new tune: the cap counts a corpus
# with its transpositions (--transpose) as at most this many times the tunes' own
# characters. On the 800-tune subset, transposed, `--minutes 20` chose LSTM 512 (7.2
# parameters per character of the tunes' own) and overfitted after about 27 epochs of
# them, ending at 1.294 against 1.259 for `--minutes 4`'s LSTM 384 (3.9), which was
# still improving (bench/budget_results.json).
TRANSPOSED_WORTH = 2.0
# Where the data runs out: the schedule ends after at most this many passes over the
# tunes' own characters (transposed copies not counted), however long the budget, and
# past LONG_EPOCHS of them dropout rises to LONG_DROPOUT. On the 800-tune subset,
# transposed, `--minutes 20` (LSTM 384) at dropout 0.2 ended at 1.273 nats/char with
# its schedule spanning the budget (its best weights at about 48 such epochs, the rate
# still high), 1.266 ending at 45 epochs (its validation loss lowest at about 32) and
# 1.264 ending at 35; at dropout 0.35, ending at 50, at 1.231, still improving. A
# `--minutes 4` run (33 epochs, dropout 0.2): 1.259 (bench/budget_results.json).
MAX_EPOCHS = 50.0
LONG_EPOCHS = 35.0
LONG_DROPOUT = 0.35
# (epochs at most, dropout): the first row whose bound the budget's epochs fit.
DROPOUT_BY_EPOCHS = ((2.0, 0.0), (8.0, 0.1), (30.0, 0.2), (float("inf"), 0.3))
# The probe may spend this fraction of the budget; each size gets a warm-up step
# (the compile) and PROBE_STEPS timed steps.
PROBE_FRACTION = 0.05
PROBE_STEPS = 5
# Time kept back from the training steps for validation passes and checkpoints
# (the trainer also stops early enough for its final evaluation and save).
OVERHEAD_FRACTION = 0.04


def parameter_count(vocab_size, embedding_dim, rnn_units, lookback=None):
    """Weights of a `MusicRNN`: embedding, LSTM (4 gates), dense output; with
    ``lookback``, a `LookbackRNN` (an offer embedding, a wider LSTM input)."""
    from tfdl.music.lookback import COPY_OFFERS, COUNTER_DIM, OFFER_DIM, counter_sizes

    inputs, offers = embedding_dim, 0
    if lookback is not None:
        count = 3 if lookback.get("part_offer") else 2  # offers, each with its repeat flag
        count *= 2 if lookback.get("notes") else 1  # the same offers by notes
        inputs += count * (OFFER_DIM + 1)
        offers = (vocab_size + 1) * OFFER_DIM
        if lookback.get("counters"):  # the bar in the part, the place in the bar (the clock)
            clock = lookback.get("clock_classes") is not None
            sizes = counter_sizes(lookback["bars"], lookback["bar_chars"], clock)
            inputs += len(sizes) * COUNTER_DIM
            offers += sum(sizes) * COUNTER_DIM
        offers += (rnn_units + 1) * count if COPY_OFFERS else 0  # the copy gates
    lstm = 4 * rnn_units * (inputs + rnn_units + 1)
    return vocab_size * embedding_dim + offers + lstm + (rnn_units + 1) * vocab_size


def dropout_for(epochs, own_epochs=0.0):
    """The recipe's dropout for ``epochs`` passes over the training text (transposed
    copies included) and ``own_epochs`` over the tunes' own text."""
    rate = next(rate for bound, rate in DROPOUT_BY_EPOCHS if epochs <= bound)
    return max(rate, LONG_DROPOUT) if own_epochs > LONG_EPOCHS else rate


def music_model(vocab_size, embedding_dim, rnn_units, dropout=0.0, lookback=None):
    """A `MusicRNN`, or with ``lookback`` (`BarLookback` arguments) a `LookbackRNN`."""
    from tfdl.music.lookback import COPY_OFFERS, OFFER_DIM, LookbackRNN
    from tfdl.music.model import MusicRNN

    if lookback is None:
        return MusicRNN(vocab_size, embedding_dim, rnn_units, dropout)
    return LookbackRNN(
        vocab_size,
        embedding_dim,
        rnn_units,
        dropout,
        lookback=lookback,
        offer_dim=OFFER_DIM,
        copy=COPY_OFFERS,
    )


def probe_seconds_per_step(ids, vocab_size, size, batch_size, seq_length, seed=0, lookback=None):
    """Seconds one training step of a `music_model` of ``size`` takes here (timed on ``ids``).

    The step is the Trainer's own (`Trainer.train_step`): what the run will take.
    """
    from tfdl.music.model import music_loss
    from tfdl.training import Trainer

    embedding_dim, rnn_units = size
    model = music_model(vocab_size, embedding_dim, rnn_units, 0.1, lookback)
    model.build((None, None))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - seq_length - 1, size=(PROBE_STEPS + 1, batch_size))
    windows = np.asarray(ids, np.int32)[starts[..., None] + np.arange(seq_length + 1)]
    with tempfile.TemporaryDirectory(prefix="tfdl-probe-") as scratch:  # nothing is saved
        trainer = Trainer(model, keras.optimizers.Adam(1e-3), music_loss, scratch, progress=False)
        batches = [(w[:, :-1], w[:, 1:]) for w in windows]  # (batch, seq_length) each
        trainer.train_step(batches[0])  # compile
        started = time.perf_counter()
        for batch in batches[1:]:
            trainer.train_step(batch)
    return (time.perf_counter() - started) / PROBE_STEPS


def plan_steps(seconds_per_step, train_seconds):
    return max(1, int(train_seconds * (1 - OVERHEAD_FRACTION) / seconds_per_step))


def fit_recipe(budget_seconds, ids, vocab_size, fixed=None, log=None, probe=None, lookback=None,
               data_chars=None):  # fmt: skip
    """The recipe for ``budget_seconds`` of training on the encoded corpus ``ids``.

    ``fixed`` holds settings the user chose (``MusicConfig`` field names); they are
    kept, and the probe measures only sizes they allow. ``probe`` times a step
    (default `probe_seconds_per_step`); ``lookback`` makes the model a `LookbackRNN`.
    ``data_chars``: the tunes' own characters where ``ids`` also hold transposed copies
    (the data cap counts at most ``TRANSPOSED_WORTH`` times them).
    Returns ``(settings, why)``: the chosen settings (every hyperparameter, and
    ``steps``) and a dict of the measurements and rules behind them.
    """
    probe = probe or functools.partial(probe_seconds_per_step, lookback=lookback)
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    started = time.perf_counter()
    batch_size = fixed.get("batch_size", BATCH_SIZE)
    seq_length = fixed.get("seq_length", SEQ_LENGTH)
    if "rnn_units" in fixed:  # the user's size: the only one to probe
        embedding_dims = {units: dim for dim, units in SIZES}
        sizes = [
            (
                fixed.get("embedding_dim", embedding_dims.get(fixed["rnn_units"], 128)),
                fixed["rnn_units"],
            )
        ]
    else:
        sizes = [(fixed.get("embedding_dim", dim), units) for dim, units in SIZES]
    probe_budget = PROBE_FRACTION * budget_seconds
    cap_chars = len(ids) if data_chars is None else min(len(ids), TRANSPOSED_WORTH * data_chars)
    measured = []  # (size, seconds per step, chars per parameter over the budget)
    for size in sizes:
        parameters = parameter_count(vocab_size, *size, lookback)
        if measured and parameters > MAX_PARAMETERS_PER_CHAR * cap_chars:
            break  # too big for the data (the smallest size is always measured)
        seconds = probe(ids, vocab_size, size, batch_size, seq_length)
        train_seconds = budget_seconds - (time.perf_counter() - started)
        chars = train_seconds * (1 - OVERHEAD_FRACTION) / seconds * batch_size * seq_length
        ratio = chars / parameters
        measured.append((size, seconds, ratio))
        if log:
            log(
                f"probe: LSTM {size[1]} takes {seconds:.3f} s a step here: {ratio:.1f} "
                "characters per parameter in the budget"
            )
        # A larger size is slower and bigger: once one falls short, the rest do too.
        if ratio < CHARS_PER_PARAMETER or time.perf_counter() - started > probe_budget:
            break
    good = [m for m in measured if m[2] >= CHARS_PER_PARAMETER]
    size, seconds_per_step, ratio = good[-1] if good else measured[0]
    probe_seconds = time.perf_counter() - started
    train_seconds = budget_seconds - probe_seconds
    own_chars = len(ids) if data_chars is None else min(len(ids), data_chars)
    last_step = max(1, int(MAX_EPOCHS * own_chars / (batch_size * seq_length)))
    steps = fixed.get("steps") or min(plan_steps(seconds_per_step, train_seconds), last_step)
    epochs = steps * batch_size * seq_length / len(ids)
    own_epochs = steps * batch_size * seq_length / own_chars
    settings = {
        "batch_size": batch_size,
        "seq_length": seq_length,
        "embedding_dim": size[0],
        "rnn_units": size[1],
        "learning_rate": LEARNING_RATE,
        "lr_schedule": "cosine",
        "warmup_steps": (
            0
            if fixed.get("lr_schedule") == "constant"
            else min(MAX_WARMUP_STEPS, int(WARMUP_FRACTION * steps))
        ),
        "dropout": dropout_for(epochs, own_epochs),
        "clip_norm": CLIP_NORM,
        "steps": steps,
    }
    settings.update({k: v for k, v in fixed.items() if k in settings})
    why = {
        "budget_seconds": round(budget_seconds, 1),
        "probe_seconds": round(probe_seconds, 1),
        "corpus_chars": len(ids),
        "data_cap_chars": int(cap_chars),
        "seconds_per_step": {f"LSTM {s[1]}": round(t, 4) for s, t, _ in measured},
        "chars_per_parameter": {f"LSTM {s[1]}": round(r, 2) for s, _, r in measured},
        "size_rule": (
            f"the largest size with >= {CHARS_PER_PARAMETER} characters per parameter "
            f"in the budget and <= {MAX_PARAMETERS_PER_CHAR} parameters per character of data"
        ),
        "planned_epochs": round(epochs, 2),
        "epochs_of_own_text": round(own_epochs, 2),
        "steps_rule": (
            f"the budget's steps, at most {MAX_EPOCHS:g} passes over the tunes' own "
            f"characters ({last_step} steps)"
        ),
        "dropout_rule": (
            f"{DROPOUT_BY_EPOCHS} as (epochs at most, dropout); at least {LONG_DROPOUT} "
            f"past {LONG_EPOCHS:g} passes over the tunes' own characters"
        ),
        "user_fixed": sorted(fixed),
    }
    return settings, why


def lab_recipe(budget_seconds, ids, vocab_size, fixed=None, log=None, probe=None, lookback=None):
    """The lab's hyperparameters (with the user's ``fixed`` ones); with a budget, the
    steps it allows, from a probe of the lab's model."""
    probe = probe or functools.partial(probe_seconds_per_step, lookback=lookback)
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    settings = {**LAB, "steps": LAB_STEPS, **{k: v for k, v in fixed.items() if k in LAB}}
    why = {"recipe": "the MIT lab's lab 1 hyperparameters", "user_fixed": sorted(fixed)}
    if "steps" in fixed:
        settings["steps"] = fixed["steps"]
    elif budget_seconds is not None:
        started = time.perf_counter()
        size = (settings["embedding_dim"], settings["rnn_units"])
        seconds = probe(ids, vocab_size, size, settings["batch_size"], settings["seq_length"])
        probe_seconds = time.perf_counter() - started
        settings["steps"] = plan_steps(seconds, budget_seconds - probe_seconds)
        why.update(
            budget_seconds=round(budget_seconds, 1),
            probe_seconds=round(probe_seconds, 1),
            seconds_per_step={f"LSTM {size[1]}": round(seconds, 4)},
        )
        if log:
            log(f"probe: the lab's LSTM {size[1]} takes {seconds:.3f} s a step here")
    return settings, why

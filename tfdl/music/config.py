"""The music RNN's training settings: one dataclass, importable without TensorFlow.

The comment above each field is also the help of its ``tfdl music train`` flag
(`tfdl.command.config_arguments`). A bad value raises `tfdl.errors.UserError`
(a ValueError) naming it.
"""

from dataclasses import dataclass

from tfdl.errors import UserError

LR_SCHEDULES = ("constant", "cosine")
RECIPES = ("lab", "auto")
# The hyperparameters a recipe chooses (and a resumed run must keep): the keys of
# `tfdl.music.recipe.LAB`.
RECIPE_FIELDS = (
    "batch_size",
    "seq_length",
    "embedding_dim",
    "rnn_units",
    "learning_rate",
    "lr_schedule",
    "warmup_steps",
    "dropout",
    "clip_norm",
)


@dataclass
class MusicConfig:
    """A music training run. A field left None is chosen by the recipe (``hold_out_book``
    and ``lookback``: None is off; ``transpose``: the auto recipe's choice, off in the
    lab's).

    ``recipe="lab"`` (the default without ``minutes``) fills them with the MIT lab's
    values: 3000 steps of 8 windows x 100 characters, Embedding 256 -> LSTM 1024
    (5.35 M parameters), Adam 5e-3 at a constant rate, no dropout, no clipping.
    ``recipe="auto"`` (the default with ``minutes``) fits them to the time budget,
    this machine and the data when training starts (see `tfdl.music.recipe`).
    """

    # Training steps (give steps, minutes, or both).
    steps: int | None = None
    # A time budget: train the best model this machine makes in it (recipe auto),
    # stopping on time with a final evaluation and a saved model. The budget counts
    # from the start of training, the recipe's throughput probe included.
    minutes: float | None = None
    # lab: the MIT lab's exact hyperparameters (the default with steps alone); auto:
    # fitted to minutes, this machine and the data (the default with minutes). The
    # settings below override either.
    recipe: str | None = None
    # Windows per training step.
    batch_size: int | None = None
    # Characters per window.
    seq_length: int | None = None
    # Size of each character's embedding.
    embedding_dim: int | None = None
    # LSTM units.
    rnn_units: int | None = None
    # Adam's (peak) learning rate.
    learning_rate: float | None = None
    # constant (the lab), or cosine: decay to 1 % of the learning rate by the last
    # step, so late steps refine instead of bouncing around the minimum.
    lr_schedule: str | None = None
    # Steps of linear warm-up to the learning rate (cosine schedule only).
    warmup_steps: int | None = None
    # Fraction of the LSTM's inputs and outputs dropped while training (see MusicRNN);
    # 0 in the lab. A model that goes over the shipped corpus many times needs it.
    dropout: float | None = None
    # Clip the gradients' global norm to this (off in the lab); 1.0 steadies high
    # learning rates.
    clip_norm: float | None = None
    # 10 % of tunes held out: a few hundred of the shipped corpus, a stable estimate.
    val_fraction: float = 0.1
    # One seed for the held-out split, the weights, the windows drawn and the songs
    # sampled at the end: runs repeat exactly.
    seed: int = 0
    # Steps between checkpoints (by default 500, or a tenth of a time-budgeted run).
    checkpoint_every: int | None = None
    # Steps between validation passes over the held-out tunes (by default 250, or a
    # tenth of a time-budgeted run): a pass costs a few training steps.
    eval_every: int | None = None
    # Songs generated at the end and logged to the tracker, as a sanity check by ear.
    sample_songs: int = 3
    # Also train on each training tune in the other keys its mode commonly takes in
    # the data (tfdl.music.transpose): about 3x the music to learn from. The held-out
    # tunes stay as they are. The auto recipe turns it on when its budget would go over
    # the training tunes more than 8 times (--no-transpose: never).
    transpose: bool | None = None
    # One source collection of the shipped corpus (oneills1850, ryansMammoth or
    # airdsAirs) kept out of training and validation alike, to score the model on a
    # whole book it never saw (evaluate --split book): closer to a user's own tunes
    # than a random split of the same books.
    hold_out_book: str | None = None
    # A LookbackRNN: the LSTM also reads the character at the same place four bars
    # back and the next one of an earlier bar this bar has begun to restate
    # (tfdl.music.lookback), so the model can restate a phrase without remembering it.
    lookback: bool | None = None
    # Also train on this share of the 6/8 training tunes written again in 12/8, two
    # bars to a bar (tfdl.music.rebar): slides, which the corpus has 5 of. The copies
    # are made before any transposition; the held-out tunes stay as they are.
    slides: float = 0.0

    def __post_init__(self):
        if self.recipe is not None and self.recipe not in RECIPES:
            raise UserError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        if self.minutes is not None and not self.minutes > 0:
            raise UserError(f"minutes must be > 0, got {self.minutes!r}")
        if self.recipe == "auto" and self.minutes is None:
            raise UserError("recipe 'auto' fits a time budget: give minutes")
        for name in ("steps", "batch_size", "seq_length", "embedding_dim", "rnn_units"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"{name} must be a positive integer, got {value!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise UserError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.lr_schedule is not None and self.lr_schedule not in LR_SCHEDULES:
            raise UserError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"
            )
        if self.warmup_steps is not None:
            if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
                raise UserError(f"warmup_steps must be >= 0, got {self.warmup_steps!r}")
            if self.warmup_steps and self.lr_schedule == "constant":
                raise UserError("warmup_steps needs lr_schedule 'cosine'")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0 <= self.slides <= 1:
            raise UserError(f"slides must be in [0, 1], got {self.slides!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise UserError(f"clip_norm must be > 0, got {self.clip_norm!r}")

    def recipe_name(self):
        return self.recipe or ("auto" if self.minutes is not None else "lab")

    def chosen(self):
        """The settings given for the recipe to keep (None: the recipe's choice)."""
        return {k: getattr(self, k) for k in ("steps", *RECIPE_FIELDS)}

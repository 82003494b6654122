"""A candidate for the shipped music model, measured as the model card measures, and
judged by the ship rule of issue #26 against the shipped model's recorded numbers.

    python bench/candidate_eval.py --model runs/L1 --arm "what this run is" \\
        --command "the tfdl music train command that made it" [--record]

The measures, each from its own tfdl command:
- held-out losses: ``tfdl music evaluate --split val`` (its own held-out tunes, whole),
  ``--split book`` (the held-out book, Ryan's Mammoth Collection) and ``--data`` music21's
  miscFolk tunes, which no tfdl model saw (cleaned as the corpus);
- ``tfdl music report`` from ``X:1`` at T = 1.0 in its three modes: seeds 1 and 2 (100
  songs) and 3 (200 songs), the model card's seeds;
- ``bench/tune_types.py``: 20 songs of each tune type in the form-keeping mode.

The ship rule (#26): better than the shipped model on the held-out book's loss, and on
free sampling's abc2midi metrical songs over all 400. The shipped model's numbers are
its entries in bench/lookback_results.json (``--shipped-arm``). Also printed, for what
the rule does not weigh: repeated bars and part similarity in the default mode, and the
songs in form per tune type. With ``--record`` the three seeds' entries are appended to
bench/lookback_results.json, as bench/lookback_bench.py writes them.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from lookback_bench import KEYS, RESULTS, report_numbers, tfdl, write_misc_folk

HERE = Path(__file__).resolve().parent
SEEDS = ((1, 100), (2, 100), (3, 200))  # the model card's reports: (seed, songs)
# The shipped model's entries in bench/lookback_results.json: change it when a model ships.
SHIPPED_ARM = "the shipped model's run at twice the steps (10,240) with dropout 0.35"


def measure(model, arm, command):
    """The three seeds' entries (as bench/lookback_results.json holds them) and the
    tune types' lines of bench/tune_types.py."""
    settings = json.loads((Path(model) / "settings.json").read_text())
    losses = {}
    with tempfile.TemporaryDirectory() as tmp:
        misc = write_misc_folk(Path(tmp) / "misc_folk.abc")
        for name, flags in (
            ("val_loss_whole_tunes", ["--split", "val"]),
            ("book_loss", ["--split", "book"]),
            ("misc_folk_loss", ["--data", misc]),
        ):
            scored = json.loads(tfdl("music", "evaluate", "--model", model, *flags))
            losses[name] = round(scored["loss"], 4)
            print(f"{name}: {losses[name]}", flush=True)
    entries, code = [], _commit()
    for seed, songs in SEEDS:
        report = json.loads(
            tfdl("music", "report", "--model", model, "--num-songs", songs, "--seed", seed)
        )
        entry = {
            "arm": arm,
            "corpus": "book",
            "minutes": None,
            "code": code,
            "command": command,
            "rnn_units": settings["rnn_units"],
            "parameters": settings["parameters"],
            "steps": settings["steps_done"],
            "best_step": settings.get("best_step"),
            "train_seconds": settings["train_seconds"],
            "init_from": settings.get("init_from"),
            "dropout": settings["dropout"],
            "val_loss": round(settings["val_loss"], 4),
            **losses,
            "report_seed": seed,
            "songs": songs,
        }
        entry |= report_numbers(report, (*KEYS, "abc2midi_parse_fraction"))
        entries.append(entry)
        print(f"seed {seed}: free abc2midi metrical {entry['free']['abc2midi_metrical_fraction']}")
    types = subprocess.run(
        [sys.executable, str(HERE / "tune_types.py"), "--model", str(model)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return entries, [json.loads(line) for line in types.splitlines() if line.startswith("{")]


def summary(entries):
    """The numbers the ship rule and the model card compare, from three seeds' entries."""
    by_seed = sorted(entries, key=lambda e: e["report_seed"])
    free_metrical = sum(
        round(e["free"]["abc2midi_metrical_fraction"] * e["songs"]) for e in by_seed
    )
    return {
        "val_loss_whole_tunes": by_seed[0]["val_loss_whole_tunes"],
        "book_loss": by_seed[0]["book_loss"],
        "misc_folk_loss": by_seed[0]["misc_folk_loss"],
        "free_metrical_songs": free_metrical,
        "songs": sum(e["songs"] for e in by_seed),
        **{
            f"{mode}_{key}": [e[mode].get(key) for e in by_seed]
            for mode, key in (
                ("free", "abc2midi_metrical_fraction"),
                ("free", "abc2midi_parse_fraction"),
                ("form", "two_part_fraction"),
                ("form", "tonic_ending_fraction"),
                ("form", "abc2midi_metrical_fraction"),
                ("form", "repeated_bar_fraction"),
                ("form", "part_similarity"),
                ("metrical", "abc2midi_metrical_fraction"),
            )
        },
    }


def shipped_entries(results, arm):
    """The shipped model's three seeds' entries in ``results``."""
    entries = [e for e in results if e["arm"] == arm and e.get("report_seed")]
    if sorted(e["report_seed"] for e in entries) != [s for s, _ in SEEDS]:
        raise SystemExit(f"bench/lookback_results.json has no seeds 1, 2, 3 for arm {arm!r}")
    return entries


def _commit():
    git = ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"]
    return subprocess.run(git, capture_output=True, text=True).stdout.strip() or None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the candidate's model directory")
    parser.add_argument("--arm", required=True, help="what the candidate is, for the record")
    parser.add_argument("--command", required=True, help="the command that trained it")
    parser.add_argument("--shipped-arm", default=SHIPPED_ARM)
    parser.add_argument("--record", action="store_true", help="append to lookback_results")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text())
    shipped = summary(shipped_entries(results, args.shipped_arm))
    entries, types = measure(args.model, args.arm, args.command)
    candidate = summary(entries)
    if args.record:
        RESULTS.write_text(json.dumps(results + entries, indent=1) + "\n")
    for key in candidate:
        print(f"{key:42s} {str(candidate[key]):32s} shipped: {shipped[key]}")
    for line in types:
        print(f"type {line['type']}: {line['in_form']} of {line['songs']} in form")
    ships = (
        candidate["book_loss"] < shipped["book_loss"]
        and candidate["free_metrical_songs"] > shipped["free_metrical_songs"]
    )
    print(json.dumps({"ship_rule_met": ships, "candidate": candidate, "types": types}))


if __name__ == "__main__":
    main()

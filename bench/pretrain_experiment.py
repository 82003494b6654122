"""Does pretraining on music21's other ABC collections help? Prints one JSON line.

    python bench/pretrain_experiment.py [--out runs/pretrain] [--steps 800]

A: ``--steps`` on the shipped corpus. B: half the steps on essenFolksong + miscFolk
(cleaned like the corpus, `tfdl.music.clean`) plus the corpus's training tunes, then
half on the corpus (``--init-from``). Both are scored on the corpus's held-out tunes,
each whole (``tfdl music evaluate --split val``). About 15 minutes on 2 CPU cores.
"""

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

COMMON = (
    "--rnn-units 384 --embedding-dim 64 --batch-size 32 --seq-length 200 --dropout 0.2 "
    "--lr-schedule cosine --clip-norm 1.0 --eval-every 200 --checkpoint-every 200 --seed 0 "
    "--tracking off --no-progress"
).split()


def other_tunes(names=("essenFolksong", "miscFolk")):
    """The cleaned tunes of music21's essenFolksong and miscFolk collections (``names``)."""
    import music21

    from tfdl.music import abc, clean

    root = Path(music21.common.getCorpusFilePath())
    tunes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            for path in sorted((root / name).rglob("*.abc")):
                try:
                    loaded = abc.load_tunes(path)
                except abc.ABCError:
                    continue
                tunes += [t for t in (clean.clean_tune(t)[0] for t in loaded) if t]
    return tunes


def tfdl(*args):
    done = subprocess.run([sys.executable, "-m", "tfdl.cli", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    from tfdl.music import abc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/pretrain"))
    parser.add_argument("--steps", type=int, default=800)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train, _ = abc.train_val_split(abc.load_corpus(), 0.1, 0)  # the held-out tunes stay out
    extra = other_tunes()
    mix = args.out / "mix.abc"
    mix.write_text("\n\n".join(extra + train) + "\n")
    half, corpus = str(args.steps // 2), str(abc.corpus_path())
    runs = {
        "A": ["--steps", str(args.steps), "--learning-rate", "3e-3"],
        "B1": ["--data", str(mix), "--steps", half, "--learning-rate", "3e-3"],
        "B2": ["--init-from", str(args.out / "B1"), "--steps", half, "--learning-rate", "2e-3"],
    }
    result = {"other_tunes": len(extra), "steps": args.steps}
    for name, flags in runs.items():
        tfdl("music", "train", "--out", str(args.out / name), *flags, *COMMON)
        scored = tfdl("music", "evaluate", "--model", str(args.out / name), "--split", "val",
                      "--data", corpus)  # fmt: skip
        result[f"{name}_val_loss"] = round(scored["loss"], 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

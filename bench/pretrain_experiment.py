"""Does pretraining on music21's other ABC collections help? Prints one JSON line.

    python bench/pretrain_experiment.py [--out runs/pretrain] [--steps 800]
    python bench/pretrain_experiment.py --rnn-units 640 --embedding-dim 128 --steps 4000

A: ``--steps`` on the shipped corpus. B: half the steps on the pretraining corpus
(``python abc_data/build_corpus.py --pretraining``: essenFolksong cleaned like the
corpus, then the corpus's training tunes), then half on the corpus (``--init-from``).
Both are scored on the corpus's held-out tunes, each whole (``tfdl music evaluate
--split val``). About 15 minutes on 2 CPU cores at the default size. (The first
measurement, 2.4 %, also pretrained on miscFolk, which is now the unseen measure.)
"""

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

COMMON = (
    "--batch-size 32 --seq-length 200 --dropout 0.2 "
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
    parser.add_argument("--rnn-units", type=int, default=384)
    parser.add_argument("--embedding-dim", type=int, default=64)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "abc_data"))
    from build_corpus import build_pretraining

    stats = build_pretraining(args.out)  # the held-out tunes (seed 0, 10 %) stay out
    mix = args.out / "pretraining_tunes.abc"
    half, corpus = str(args.steps // 2), str(abc.corpus_path())
    size = ["--rnn-units", str(args.rnn_units), "--embedding-dim", str(args.embedding_dim)]
    runs = {
        "A": ["--steps", str(args.steps), "--learning-rate", "3e-3"],
        "B1": ["--data", str(mix), "--steps", half, "--learning-rate", "3e-3"],
        "B2": ["--init-from", str(args.out / "B1"), "--steps", half, "--learning-rate", "2e-3"],
    }
    result = {"other_tunes": stats["other_tunes"], "steps": args.steps, "rnn_units": args.rnn_units}
    for name, flags in runs.items():
        tfdl("music", "train", "--out", str(args.out / name), *flags, *size, *COMMON)
        scored = tfdl("music", "evaluate", "--model", str(args.out / name), "--split", "val",
                      "--data", corpus)  # fmt: skip
        result[f"{name}_val_loss"] = round(scored["loss"], 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Key transposition against none, at equal training steps (so equal time): held-out loss.

    python bench/transpose_bench.py [--steps 2000]
    python bench/transpose_bench.py --minutes 20     # one --minutes run with --transpose

The 800-tune subset of bench/budget_bench.py (seed 0) and its 80 held-out tunes, in their
own keys. Both runs use the budget recipe's choices for LSTM 256 (32 x 100 windows, Adam
1e-2 with warm-up and cosine decay, clipping 1.0, dropout 0.2) for the same number of
steps; a step costs the same with or without transposition, which only changes what the
windows are drawn from. Prints one JSON line per run (held-out loss, and the trainer's
validation curve) and appends it to bench/transpose_results.json.
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from budget_bench import corpus, held_out_loss  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "transpose_results.json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument(
        "--minutes", type=float, help="instead: one time-budgeted run (recipe auto), transposed"
    )
    args = parser.parse_args()
    from tfdl.music.train import MusicConfig, train_music

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, held_out = corpus("subset800", work)
        if args.minutes:
            config = MusicConfig(minutes=args.minutes, sample_songs=0, transpose=True)
            settings = train_music(config, work / "budget", data, tracking="off", progress=False)
            entry = {
                "transpose": True,
                "minutes": args.minutes,
                "rnn_units": settings["rnn_units"],
                "dropout": settings["dropout"],
                "steps": settings["steps_done"],
                "best_step": settings["best_step"],
                "train_tunes": settings["train_tunes"],
                "train_seconds": settings["train_seconds"],
                "held_out_loss": round(held_out_loss(work / "budget", held_out), 4),
            }
            results.append(entry)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
            print(json.dumps(entry), flush=True)
            return
        for transpose in (False, True):
            config = MusicConfig(
                steps=args.steps, rnn_units=256, embedding_dim=64, batch_size=32,
                seq_length=100, learning_rate=1e-2, lr_schedule="cosine",
                warmup_steps=min(100, args.steps // 20), clip_norm=1.0, dropout=0.2,
                eval_every=max(1, args.steps // 8), sample_songs=0, transpose=transpose,
            )  # fmt: skip
            out = work / f"run-{transpose}"
            settings = train_music(config, out, data, tracking="off", progress=False)
            history = json.loads((out / "history.json").read_text())
            entry = {
                "transpose": transpose,
                "steps": settings["steps_done"],
                "train_tunes": settings["train_tunes"],
                "train_seconds": settings["train_seconds"],
                "held_out_loss": round(held_out_loss(out, held_out), 4),
                "val_curve": [
                    [s, round(v, 4)] for s, v in zip(history["val_steps"], history["val_losses"])
                ],
            }
            results.append(entry)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
            print(json.dumps(entry), flush=True)


if __name__ == "__main__":
    main()

"""Held-out loss against training time: the lab's recipe, and `--minutes` budgets.

    python bench/budget_bench.py --phase grid        # sizes x 1 and 4 minutes (the rule)
    python bench/budget_bench.py --phase accept      # lab vs --minutes 4 and 20, same data
    python bench/budget_bench.py --phase shipped     # --minutes 1, 4, 20 on the shipped corpus
    python bench/budget_bench.py --phase schedule    # --minutes 20 and 4 alone (MAX_EPOCHS)
    python bench/budget_bench.py --phase regularise  # --minutes 20: more dropout, longer, larger
    python bench/budget_bench.py --plot-only         # the figure from the results so far

Two corpora: the shipped one (3,360 tunes) and an 800-tune subset of it drawn with
seed 0. Each run trains through `train_music` exactly as ``tfdl music train`` does
(the same recipe code, probe included), then its model scores the corpus's held-out
tunes (10 %, seed 0: the same tunes for every run on a corpus) whole, each from its
start, with `evaluate_tunes`. The lab's recipe runs in segments (250, 500, ...
steps, each resuming the last: its learning rate is constant, so this is one run)
and is scored after each.

Results go to ``bench/budget_results.json`` (one record per run, written as each
ends, so an interrupted bench keeps what it measured; a run already there is
skipped), the figure to ``bench/budget_curves.png``.
"""

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "budget_results.json"
FIGURE = HERE / "budget_curves.png"
LAB_SEGMENTS = (250, 500, 750, 1000, 1500, 2000)
SUBSET_TUNES = 800
# The auto recipe's name in the results: since it transposes past TRANSPOSE_EPOCHS
# (tfdl.music.train) and caps the size at TRANSPOSED_WORTH times the tunes' own
# characters and ends its schedule at MAX_EPOCHS of them (tfdl.music.recipe). Runs
# labelled plain "auto" measured the recipe before these rules, "auto, transposing past
# 8 epochs" before the cap, "..., capped" before the schedule's end at MAX_EPOCHS
# ("..., ending at 45 epochs": MAX_EPOCHS was 45; "..., ending at 35 epochs": MAX_EPOCHS
# was 35, before dropout rose past LONG_EPOCHS).
AUTO = "auto, transposing past 8 epochs, capped, ending at 50 epochs, dropout 0.35 past 35"
PHASES = {
    # Fixed sizes under the auto recipe's other choices: where the size rule comes from.
    "grid": [
        ("subset800", 4, 256),
        ("subset800", 4, 384),
        ("subset800", 4, 512),
        ("subset800", 1, 128),
        ("subset800", 1, 256),
        ("subset800", 1, 384),
    ],
    "accept": [("subset800", 20, None), ("subset800", 4, None), ("subset800", "lab", None)],
    "shipped": [("shipped", 4, None), ("shipped", 20, None), ("shipped", 1, None)],
    # The schedule's end where the data runs out (MAX_EPOCHS): its steps do not depend
    # on the machine's speed once the budget reaches them, so it may run beside others.
    # The 4-minute run's do: run the phase alone.
    "schedule": [("subset800", 20, None), ("subset800", 4, None)],
    "more": [("subset800", 1, None), ("subset800", 20, 384), ("shipped", 4, 384)],
    # Point 4 of #26: can a 20-minute budget use its time past the 4-minute run's
    # ~35 epochs? (corpus, minutes, LSTM units, dropout, passes over the tunes' own
    # characters where the schedule ends, instead of MAX_EPOCHS).
    "regularise": [
        ("subset800", 20, 384, 0.35, 50),
        ("subset800", 20, 512, 0.35, 35),
    ],
}


def corpus(name, work):
    """``(data argument for train_music, held-out tunes)`` of a named corpus."""
    from tfdl.music import abc

    tunes = abc.load_corpus()
    data = None
    if name == "subset800":
        chosen = sorted(random.Random(0).sample(range(len(tunes)), SUBSET_TUNES))
        tunes = [tunes[i] for i in chosen]
        data = work / "subset800.abc"
        data.write_text("\n\n".join(t.rstrip("\n") for t in tunes) + "\n", encoding="utf-8")
    _, held_out = abc.train_val_split(tunes, 0.1, 0)
    return data, held_out


def held_out_loss(out_dir, held_out):
    from tfdl.music.evaluate import evaluate_tunes
    from tfdl.music.saved import load_music_model

    model, vocab, _ = load_music_model(out_dir)
    return evaluate_tunes(model, vocab, held_out)["loss"]


def record(results, entry):
    results.append(entry)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(entry), flush=True)


def recipe_name(units, dropout=None, epochs=None):
    """The results' name of an auto-recipe run (see AUTO and PHASES)."""
    if units is None:
        return AUTO
    if dropout is None:
        return f"auto, LSTM {units} fixed"
    return f"auto, LSTM {units} fixed, dropout {dropout:g}, ending at {epochs:g} epochs"


def run_budget(corpus_name, minutes, units, work, results, dropout=None, epochs=None):
    from tfdl.music import recipe
    from tfdl.music.train import MusicConfig, train_music

    data, held_out = corpus(corpus_name, work)
    out = work / f"{corpus_name}-{minutes}-{units}"
    shutil.rmtree(out, ignore_errors=True)
    config = MusicConfig(minutes=minutes, rnn_units=units, dropout=dropout, sample_songs=0)
    started = time.perf_counter()
    max_epochs = recipe.MAX_EPOCHS
    recipe.MAX_EPOCHS = epochs or max_epochs  # the recipe reads it at each call
    try:
        settings = train_music(config, out, data, tracking="off", progress=False, log=print)
    finally:
        recipe.MAX_EPOCHS = max_epochs
    wall = time.perf_counter() - started
    history = json.loads((out / "history.json").read_text())
    seconds = dict(zip(history["steps"], history["seconds"]))
    record(
        results,
        {
            "corpus": corpus_name,
            "recipe": recipe_name(units, dropout, epochs),
            "transpose": settings["transpose"],
            "minutes": minutes,
            "rnn_units": settings["rnn_units"],
            "steps": settings["steps_done"],
            "dropout": settings["dropout"],
            "wall_seconds": round(wall, 1),
            "train_seconds": settings["train_seconds"],
            "held_out_loss": round(held_out_loss(out, held_out), 4),
            "why": settings["recipe_why"],
            # The trainer's validation (fixed windows) along the run.
            "val_curve": [
                [round(seconds[s], 1), round(v, 4)]
                for s, v in zip(history["val_steps"], history["val_losses"])
            ],
        },
    )


def run_lab(corpus_name, work, results):
    from tfdl.music.train import MusicConfig, train_music

    data, held_out = corpus(corpus_name, work)
    out = work / f"{corpus_name}-lab"
    shutil.rmtree(out, ignore_errors=True)
    for n, steps in enumerate(LAB_SEGMENTS):
        config = MusicConfig(recipe="lab", steps=steps, sample_songs=0, eval_every=steps)
        settings = train_music(
            config, out, data, resume=n > 0, tracking="off", progress=False, log=print
        )
        record(
            results,
            {
                "corpus": corpus_name,
                "recipe": "lab",
                "minutes": None,
                "rnn_units": settings["rnn_units"],
                "steps": settings["steps_done"],
                "train_seconds": settings["train_seconds"],
                "held_out_loss": round(held_out_loss(out, held_out), 4),
            },
        )


def done(results, corpus_name, minutes, units, dropout=None, epochs=None):
    recipe = recipe_name(units, dropout, epochs)
    return any(
        (r["corpus"], r["minutes"], r["recipe"]) == (corpus_name, minutes, recipe) for r in results
    )


def plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = sorted({r["corpus"] for r in results})
    fig, axes = plt.subplots(1, len(corpora), figsize=(6.5 * len(corpora), 4.8), squeeze=False)
    for ax, name in zip(axes[0], corpora):
        mine = [r for r in results if r["corpus"] == name]
        lab = sorted((r for r in mine if r["recipe"] == "lab"), key=lambda r: r["steps"])
        if lab:
            ax.plot(
                [r["train_seconds"] for r in lab],
                [r["held_out_loss"] for r in lab],
                "k-o",
                label="lab recipe (LSTM 1024, 8 x 100, Adam 5e-3)",
            )
        sizes = sorted({r["rnn_units"] for r in mine if r["recipe"].endswith(" fixed")})
        for units in sizes:
            runs = sorted(
                (r for r in mine if r["recipe"] == f"auto, LSTM {units} fixed"),
                key=lambda r: r["minutes"],
            )
            ax.plot(
                [r["train_seconds"] for r in runs],
                [r["held_out_loss"] for r in runs],
                "--s",
                alpha=0.7,
                label=f"LSTM {units}, budgets {', '.join(str(r['minutes']) for r in runs)} min",
            )

        def line(runs, style, label, ax=ax, **kw):
            xs, ys = [r["train_seconds"] for r in runs], [r["held_out_loss"] for r in runs]
            ax.plot(xs, ys, style, label=label, **kw)

        auto = sorted((r for r in mine if r["recipe"] == "auto"), key=lambda r: r["minutes"])
        if auto:
            line(auto, "r-*", "--minutes M (auto recipe)", markersize=12)
            for r in auto:
                ax.annotate(
                    f"{r['minutes']} min: LSTM {r['rnn_units']}",
                    (r["train_seconds"], r["held_out_loss"]),
                    textcoords="offset points",
                    xytext=(6, 6),
                    fontsize=8,
                )
        ending = sorted((r for r in mine if r["recipe"] == AUTO), key=lambda r: r["minutes"])
        if ending:
            label = "--minutes M, transposing, ending where the data runs out"
            line(ending, "b-o", label, markersize=10)
        capped = [r for r in mine if r["recipe"] == "auto, transposing past 8 epochs, capped"]
        if capped:
            label = "--minutes M, transposing, before the end at MAX_EPOCHS (machine busy)"
            line(sorted(capped, key=lambda r: r["minutes"]), "g-^", label, markersize=10)
        for chosen, style, label in (
            (
                lambda name: name.startswith("auto, before"),
                "x",
                "--minutes M before the data cap (LSTM 512 at 20 min overfits)",
            ),
            (
                lambda name: name == "auto, transposing past 8 epochs",
                "v",
                "--minutes M, transposing, before the cap",
            ),
            (
                lambda name: name.endswith("ending at 45 epochs"),
                "o",
                "--minutes M, transposing, ending at 45 epochs",
            ),
            (
                lambda name: name.endswith("capped, ending at 35 epochs"),
                "s",
                "--minutes M, transposing, ending at 35 epochs (dropout 0.2)",
            ),
            (
                lambda name: name.startswith("auto, LSTM") and "dropout" in name,
                "D",
                "--minutes 20, more dropout, longer or larger (#26 point 4)",
            ),
            (
                lambda name: name.startswith("sweep"),
                ".",
                "2-minute sweeps of batch, window, rate (LSTM 256-512)",
            ),
        ):
            runs = [r for r in mine if chosen(r["recipe"])]
            if runs:
                line(runs, style, label, color="grey")
        if lab:
            plateau = lab[-1]["held_out_loss"]
            ax.axhline(plateau, color="k", ls=":", lw=1, label=f"lab at {lab[-1]['steps']} steps")
            ax.axhline(plateau - 0.1, color="r", ls=":", lw=1, label="0.1 below it (the aim)")
        ax.set_xscale("log")
        ax.set_xlabel("training seconds (2-core CPU)")
        ax.set_ylabel("held-out loss, nats/char (whole tunes)")
        ax.set_title(f"{name}: held-out loss against training time")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)
    print(f"figure: {FIGURE}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=sorted(PHASES), action="append", default=[])
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    if not args.plot_only:
        from tfdl.quiet import start_tensorflow

        start_tensorflow()
        work = Path(tempfile.mkdtemp(prefix="budget-bench-"))
        for phase in args.phase:
            for corpus_name, minutes, units, *regular in PHASES[phase]:
                if minutes == "lab":
                    if not any(
                        r["recipe"] == "lab" and r["corpus"] == corpus_name for r in results
                    ):
                        run_lab(corpus_name, work, results)
                elif not done(results, corpus_name, minutes, units, *regular):
                    run_budget(corpus_name, minutes, units, work, results, *regular)
        shutil.rmtree(work, ignore_errors=True)
    if results:
        plot(results)


if __name__ == "__main__":
    main()

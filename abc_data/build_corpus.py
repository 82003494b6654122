"""Rebuild folk_tunes.abc and folk_tunes.json from the ABC files shipped with music21.

Every tune is normalised (`tfdl.music.abc.normalise_tune`) and cleaned
(`tfdl.music.clean.clean_tune`: decorations, annotations and bar-line variants
rewritten, then the header and every bar checked); tunes that cannot be mended are
dropped and counted by reason in folk_tunes.json.

    python abc_data/build_corpus.py            # rewrites the files next to this script
    python abc_data/build_corpus.py --out-dir /tmp/corpus
    python abc_data/build_corpus.py --pretraining [--hold-out-book ryansMammoth]

``--pretraining`` builds the pretraining corpus of the pretrain-then-fine-tune recipe
(README): music21's essenFolksong, cleaned the same way, less any tune the shipped
corpus also has, followed by the shipped corpus's training tunes (the split
``tfdl music train`` makes with the same ``--seed``, ``--val-fraction`` and
``--hold-out-book``), so the model learns the corpus's characters and never sees its
held-out tunes. essenFolksong is licensed for non-commercial use only: tfdl does not
ship the result; you build it from your own music21 (pretraining_tunes.abc and .json,
git-ignored). miscFolk is left out: it is the loss on tunes no tfdl model saw.

The output depends only on the installed music21 corpus and on
``tfdl.music.abc``: sources are read in a fixed order, files in sorted order,
and nothing time- or machine-dependent is written, so two runs with the same
music21 version give byte-identical files.
"""

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

try:
    from tfdl.music import abc, clean
except ModuleNotFoundError:  # run as a script from a checkout: put the repo root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tfdl.music import abc, clean

# music21 corpus directories, in the order tunes are written (and deduplicated:
# the first copy of a tune wins). All three are instrumental dance tunes and airs
# of the Irish and Scottish fiddle tradition, the style of the 6.S191 lab corpus.
# Left out: essenFolksong (2.6 MB of German vocal songs, a different idiom, licensed
# for non-commercial use only) and miscFolk (185 tunes, several written for two
# voices, which a one-line character model cannot learn).
SOURCES = ("oneills1850", "ryansMammoth", "airdsAirs")
HERE = Path(__file__).resolve().parent
# O'Neill's tune number, from "B:O'Neill's 1720" (any case), else from "X: 1720".
ONEILLS_NUMBER = re.compile(r"(?mi)^B:.*?o'?neill'?s?\s*(\d+)|\AX:\s*(\d+)")


def music21_corpus() -> tuple[Path, str]:
    """The installed music21 corpus directory and music21's version."""
    import music21

    return Path(music21.common.getCorpusFilePath()), music21.__version__


def load_source(source_dir: Path) -> tuple[list[str], int]:
    """Normalised tunes of one collection, and how many second settings were dropped.

    music21's O'Neill's files overlap (1701-1780 and 1710-1750, 0732-0758_bs and
    _mh, ...): 171 of the book's tune numbers were transcribed twice, by
    different people, so the texts differ and ``dedupe`` cannot see it. Keeping
    only the first transcription of each number (in sorted file order) stops
    one tune from landing in both the training and the validation split.
    """
    if source_dir.name != "oneills1850":
        return abc.load_tunes(source_dir), 0
    raw = [
        tune
        for file in sorted(source_dir.rglob("*.abc"))
        for tune in abc.split_tunes(file.read_text(encoding="utf-8"))
    ]
    seen: set[str] = set()
    first = []
    for tune in raw:
        match = ONEILLS_NUMBER.search(tune)
        number = (match.group(1) or match.group(2)) if match else tune
        if number not in seen:
            seen.add(number)
            first.append(tune)
    return [t for t in map(abc.normalise_tune, first) if t is not None], len(raw) - len(first)


def _reason_kind(reason: str) -> str:
    """A drop reason without its bar numbers and lengths, to count alike reasons together."""
    if " lasts " in reason:
        return "a bar of the wrong length"
    return re.sub(r"^bar \d+: ", "", reason)


def build(out_dir: str | Path = HERE, corpus_dir: str | Path | None = None) -> dict:
    """Write ``folk_tunes.abc`` and ``folk_tunes.json`` into ``out_dir``; return the stats."""
    corpus, version = music21_corpus()
    corpus = Path(corpus_dir) if corpus_dir is not None else corpus
    tunes: list[str] = []
    sources = {}
    dropped = Counter()
    for name in SOURCES:
        loaded, second_settings = load_source(corpus / name)
        cleaned = _cleaned(loaded, dropped)
        before = len(tunes)
        tunes = abc.dedupe(tunes + cleaned)  # keeps earlier tunes first, in order
        sources[name] = {
            "files": len(list((corpus / name).rglob("*.abc"))),
            "second_settings_dropped": second_settings,
            "tunes_loaded": len(loaded),
            "unmendable_dropped": len(loaded) - len(cleaned),
            "duplicates_dropped": len(cleaned) - (len(tunes) - before),
            "tunes_kept": len(tunes) - before,
        }
    text = "\n\n".join(tunes) + "\n"
    charset = sorted(set(text))
    stats = {
        "music21_version": version,
        "sources": sources,
        "tunes": len(tunes),
        "duplicates_dropped": sum(s["duplicates_dropped"] for s in sources.values()),
        "unmendable_dropped": sum(dropped.values()),
        "unmendable_reasons": dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
        "chars": len(text),
        "bytes": len(text.encode("utf-8")),
        "vocab_size": len(charset),
        "charset": "".join(charset),
    }
    _write(out_dir, "folk_tunes", text, stats)
    return stats


def _cleaned(tunes, dropped):
    """The tunes `clean.clean_tune` can mend, mended; ``dropped`` counts the rest by reason."""
    cleaned = []
    for tune in tunes:
        mended, reason = clean.clean_tune(tune)
        if mended is None:
            dropped[_reason_kind(reason)] += 1
        else:
            cleaned.append(mended)
    return cleaned


def _write(out_dir, name, text, stats):
    """``name``.abc and ``name``.json in ``out_dir``, the same bytes on every system."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # newline="\n" so Windows writes the same bytes
    (out_dir / f"{name}.abc").write_text(text, encoding="utf-8", newline="\n")
    (out_dir / f"{name}.json").write_text(
        json.dumps(stats, indent=2) + "\n", encoding="utf-8", newline="\n"
    )


# The pretraining corpus's own collection (see the module docstring).
PRETRAINING_SOURCES = ("essenFolksong",)


def build_pretraining(out_dir=HERE, hold_out_book=None, seed=0, val_fraction=0.1, corpus_dir=None):
    """Write ``pretraining_tunes.abc`` and ``.json`` into ``out_dir``; return the stats."""
    corpus, version = music21_corpus()
    corpus = Path(corpus_dir) if corpus_dir is not None else corpus
    shipped = abc.load_corpus()
    if hold_out_book:
        shipped, _ = abc.split_off_book(shipped, hold_out_book)
    train, _ = abc.train_val_split(shipped, val_fraction, seed)
    known = len(abc.dedupe(abc.load_corpus()))
    other, dropped, loaded = [], Counter(), 0
    for name in PRETRAINING_SOURCES:
        tunes, _ = load_source(corpus / name)
        loaded += len(tunes)
        other += _cleaned(tunes, dropped)
    # less every tune the shipped corpus has (its held-out tunes and books included)
    other = abc.dedupe(abc.load_corpus() + other)[known:]
    text = "\n\n".join(other + train) + "\n"
    missing = set("".join(shipped)) - set(text)
    if missing:  # only in held-out tunes: a fine-tuned run would refuse the corpus
        raise ValueError(f"the held-out tunes have characters no pretraining tune has: {missing}")
    stats = {
        "music21_version": version,
        "sources": list(PRETRAINING_SOURCES),
        "tunes_loaded": loaded,
        "unmendable_dropped": sum(dropped.values()),
        "other_tunes": len(other),
        "corpus_training_tunes": len(train),
        "split": {"seed": seed, "val_fraction": val_fraction, "hold_out_book": hold_out_book},
        "tunes": len(other) + len(train),
        "chars": len(text),
    }
    _write(out_dir, "pretraining_tunes", text, stats)
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE, help="default: %(default)s")
    parser.add_argument(
        "--pretraining", action="store_true", help="the pretraining corpus (see above)"
    )
    parser.add_argument("--hold-out-book", help="with --pretraining: as tfdl music train's")
    parser.add_argument("--seed", type=int, default=0, help="with --pretraining: the split's")
    parser.add_argument(
        "--val-fraction", type=float, default=0.1, help="with --pretraining: the split's"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.pretraining:
        stats = build_pretraining(args.out_dir, args.hold_out_book, args.seed, args.val_fraction)
        print(
            f"{stats['other_tunes']} essenFolksong tunes and {stats['corpus_training_tunes']} "
            f"training tunes of the corpus, {stats['chars']} chars, written to "
            f"{args.out_dir / 'pretraining_tunes.abc'} in {time.perf_counter() - start:.1f} s"
        )
        return
    stats = build(args.out_dir)
    seconds = time.perf_counter() - start
    for name, s in stats["sources"].items():
        print(
            f"{name:14s} {s['tunes_kept']:5d} tunes ({s['unmendable_dropped']} unmendable, "
            f"{s['duplicates_dropped']} duplicates, "
            f"{s['second_settings_dropped']} second settings dropped)"
        )
    print(
        f"total          {stats['tunes']:5d} tunes, {stats['chars']} chars, "
        f"vocab {stats['vocab_size']}, written to {args.out_dir} in {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()

"""Songs of every tune type in the form-keeping mode: how many keep their type's form.

    python bench/tune_types.py [--model DIR] [--songs 20] [--seed 7384]

For each type of `tfdl.music.grammar.TUNE_TYPES` (``any`` aside), ``--songs`` songs
from ``X:1`` at T = 1.0 with ``type=T``; a song counts if it has the type's ``M:`` and
its parts, bars per part and tonic ending (`tfdl.music.form.read_form`). Prints one
JSON line per type: the count, the songs the sampler gave up on after its retries
(`tfdl.music.generate.FORM_RETRIES`) and its work.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model directory (default: the pretrained model)")
    parser.add_argument("--songs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7384)
    args = parser.parse_args()
    from tfdl.music.form import read_form
    from tfdl.music.generate import SongSampler
    from tfdl.music.grammar import TUNE_TYPES
    from tfdl.music.saved import load_music_model, pretrained_dir

    model, vocab, _ = load_music_model(args.model or pretrained_dir())
    sampler = SongSampler(model, vocab)
    for name, kind in TUNE_TYPES.items():
        if kind.meter is None:
            continue
        songs = sampler.sample(args.songs, 1500, seed=args.seed, type=name)
        shape = (kind.bars_per_part,) * kind.parts
        kept = 0
        for song in songs:
            form = read_form(song)
            kept += f"\nM:{kind.meter}\n" in song and form.shape == shape and form.ends_on_tonic
        line = {"type": name, "meter": kind.meter, "shape": shape, "in_form": kept}
        line |= {"songs": len(songs), "gave_up": sampler.gave_up, "work": sampler.work}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()

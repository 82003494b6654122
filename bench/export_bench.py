"""Songs per second of `tfdl.music.export.export_songs` (check + MIDI) with 1 and 2 processes.

    python bench/export_bench.py [--songs 40] [--repeats 3] [--processes 1 2]

Exports ``--songs`` tunes spread evenly over the shipped corpus, ``--repeats`` times for
each process count (alternating, so a busy machine slows every count alike), and prints
one JSON line with the best rate of each. The pool's start-up is part of the time;
importing music21 (once per program) is not. The goal is >= 5 songs/s on 2 cores.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfdl.music import abc  # noqa: E402
from tfdl.music.export import default_processes, export_songs  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    tunes = abc.load_corpus()
    songs = tunes[:: len(tunes) // args.songs][: args.songs]
    import music21  # noqa: F401  (a one-off cost for any program; not what is measured)

    rates = {p: [] for p in args.processes}
    valid = None
    with tempfile.TemporaryDirectory() as out:
        for repeat in range(args.repeats):
            for processes in args.processes:
                started = time.perf_counter()
                results = export_songs(songs, f"{out}/{repeat}-{processes}", processes=processes)
                rates[processes].append(len(songs) / (time.perf_counter() - started))
                valid = sum(r.valid for r in results)
    print(
        json.dumps(
            {
                "songs": len(songs),
                "valid": valid,
                "cpus": default_processes(),
                "load_average_1min": round(os.getloadavg()[0], 2),
                **{f"songs_per_second_{p}_processes": round(max(r), 2) for p, r in rates.items()},
                "all_rates": {p: [round(x, 2) for x in r] for p, r in rates.items()},
            }
        )
    )


if __name__ == "__main__":
    main()

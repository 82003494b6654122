"""Peak memory of ``tfdl music evaluate`` on 40 ordinary tunes and one very long one.

Issue #25: one 220 KB tune padded into a batch with the others took the command to
23.7 GB. Evaluation now reads tunes in windows (`tfdl.music.evaluate.WINDOW`), so
memory does not grow with the longest tune. This writes the 40 first tunes of the
shipped corpus and one tune of ``"CDEF GABc|" * 22000`` to a file, runs the command
on it with the shipped model in a child process, and prints the child's peak RSS
and the command's answer as one JSON line.

    python bench/evaluate_memory_bench.py [--repeat 22000]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=22000, help="bars of the long tune")
    args = parser.parse_args()
    from tfdl.music import abc

    long_tune = "X:41\nT:Long\nM:4/4\nL:1/8\nK:C\n" + "CDEF GABc|" * args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tunes.abc"
        path.write_text("\n\n".join(abc.load_corpus()[:40] + [long_tune]) + "\n")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tfdl.cli", "music", "evaluate", "--data", str(path)],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    answer = json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else None
    report = {
        "long_tune_chars": len(long_tune),
        "exit_status": done.returncode,
        "peak_rss_mib": round(peak_kib / 1024),
        "seconds": round(seconds, 1),
        "answer": answer,
    }
    if done.returncode:
        report["stderr"] = done.stderr[-2000:]
    print(json.dumps(report))


if __name__ == "__main__":
    main()

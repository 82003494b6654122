"""Peak memory of one DB-VAE epoch on a face h5 file in the lab's format, as files grow.

    python bench/faces_memory_bench.py [--images 20000 50000] [--batch-size 32] [--small]

For each size, writes a synthetic ``train_face.h5`` (datasets ``images``, uint8
(N, 64, 64, 3), and ``labels``, (N, 1), half of them faces) into a temporary
directory, then trains one DB-VAE epoch on it with `train_faces` in a fresh process
and reads that process's peak resident memory (``ru_maxrss``). ``--small`` trains a
small DB-VAE (4 filters, latent size 8) instead of the lab's: the memory an epoch's
data takes is the same, and the run is several times faster. Prints one JSON line:
``{"peak_rss_gb": {images: GB}, "seconds": {images: s}, ...}``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Runs in a fresh process, so that its peak memory is one epoch's and nothing else's.
CHILD = """
import json, resource, sys
from tfdl.faces import FacesConfig, train_faces
config = FacesConfig(**json.loads(sys.argv[3]))
train_faces(config, sys.argv[2], sys.argv[1], tracking="off", progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux: KiB -> bytes
"""


def write_face_h5(path, n, seed=0, chunk=1000):
    """A synthetic face file in the lab's format, written a chunk at a time."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        images = f.create_dataset("images", (n, 64, 64, 3), dtype=np.uint8)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            images[start:stop] = rng.integers(0, 256, (stop - start, 64, 64, 3), dtype=np.uint8)
        f.create_dataset("labels", data=(np.arange(n) % 2).reshape(-1, 1).astype(np.float32))


def peak_rss(h5_path, out_dir, config):
    """Peak resident bytes of a fresh process that trains one epoch with ``config``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(h5_path), str(out_dir), json.dumps(config)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[20000, 50000])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--small", action="store_true", help="a small DB-VAE: a faster run")
    args = parser.parse_args()

    config = {"model": "dbvae", "epochs": 1, "batch_size": args.batch_size}
    if args.small:
        config.update(n_filters=4, latent_dim=8)
    peaks, seconds = {}, {}
    for n in args.images:
        with tempfile.TemporaryDirectory() as tmp:
            write_face_h5(Path(tmp) / "train_face.h5", n)
            started = time.time()
            peaks[n] = round(
                peak_rss(Path(tmp) / "train_face.h5", Path(tmp) / "run", config) / 1e9, 2
            )
            seconds[n] = round(time.time() - started, 1)
    print(json.dumps({"peak_rss_gb": peaks, "seconds": seconds, "config": config}))


if __name__ == "__main__":
    main()

"""Two real `tfdl` worker processes on 127.0.0.1 train one model together (CPU).

Each worker is a ``tfdl music train --distribute multiworker`` with its own TF_CONFIG,
as on two machines; the tiny music model keeps a run to seconds.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import tiny_music

from tfdl.cli import main

pytestmark = pytest.mark.slow  # left out by `python3 dev.py test --quick`


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(argv, tmp_dir):
    """Workers 0 (the chief) and 1 of one cluster, each running ``tfdl argv``."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TMPDIR"] = str(tmp_dir)  # where a worker's throwaway checkpoints go
    command = [sys.executable, "-m", "tfdl.cli", *argv, "--distribute", "multiworker"]
    workers = []
    for index in range(2):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        workers.append(
            subprocess.Popen(
                command,
                env={**env, "TF_CONFIG": json.dumps(task)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return workers


def finish(workers, timeout=150):
    """Wait for every worker; each must succeed."""
    try:
        for worker in workers:
            _, err = worker.communicate(timeout=timeout)
            assert worker.returncode == 0, err
    finally:
        for worker in workers:
            worker.kill()


def music_args(tunes_file, steps):
    argv = ["music", "train", "--data", str(tunes_file), "--tracking", "off", "--no-progress"]
    return [*argv, *tiny_music(progress=True, steps=steps, eval_every=5, checkpoint_every=5)]


def test_two_workers_train_as_one_process_keep_one_set_of_checkpoints_and_resume(
    tunes_file, tmp_path
):
    two, scratch = tmp_path / "two", tmp_path / "tmp"
    scratch.mkdir()
    finish(start_workers([*music_args(tunes_file, 10), "--out", str(two)], scratch))
    # Both workers stop; both start again and go on from the chief's checkpoint.
    finish(start_workers([*music_args(tunes_file, 20), "--out", str(two), "--resume"], scratch))
    one = tmp_path / "one"  # one process, the same global batch, never stopped
    assert main([*music_args(tunes_file, 20), "--out", str(one)]) == 0

    together = json.loads((two / "history.json").read_text())
    alone = json.loads((one / "history.json").read_text())
    assert together["steps"] == list(range(1, 21))
    # Each worker sees half of every batch: summed gradients equal the whole batch's.
    np.testing.assert_allclose(together["losses"], alone["losses"], rtol=1e-4)
    np.testing.assert_allclose(together["val_losses"], alone["val_losses"], rtol=1e-4)
    # One set of checkpoints, the chief's; the other worker's copies are gone.
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == [
        "ckpt-00000010",
        "ckpt-00000015",
        "ckpt-00000020",
        "history.jsonl",
        "latest",
        "run.json",
        "vocab.json",
    ]
    assert not list(scratch.iterdir())
    assert (two / "model.keras").is_file() and (two / "samples.abc").is_file()


def test_a_dead_worker_stops_the_other_with_one_clear_line(tunes_file, tmp_path):
    out = tmp_path / "run"
    argv = [*music_args(tunes_file, 100_000), "--out", str(out)]
    workers = start_workers(argv, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints" / "latest").exists():  # training is under way
            assert time.monotonic() < deadline, workers[0].stderr.read()
            time.sleep(0.1)
        workers[1].kill()
        # TensorFlow notices within its 10 s heartbeat timeout (at once if the socket
        # closes); the timeout only keeps a hung chief from hanging the suite
        _, err = workers[0].communicate(timeout=120)
    finally:
        for worker in workers:
            worker.kill()
    assert workers[0].returncode == 2, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("tfdl: error: lost contact with worker 1 after step "), err
    assert line.endswith("start every worker again with --resume")

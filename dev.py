#!/usr/bin/env python3
"""Set up a development venv and run the demo or the tests. Needs only Python 3.10+.

    python3 dev.py demo          # .venv + install, train the folk-music RNN, write songs
    python3 dev.py test [ARGS]   # .venv + install, ruff, pytest (ARGS are passed to pytest)

Standard library only: this is the first thing run on a fresh machine.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
# Written after a successful install; newer than these files means nothing to re-install.
STAMP = VENV / ".tfdl-installed"
INSTALL_INPUTS = [ROOT / "setup.cfg", ROOT / "pyproject.toml"]

# The demo: a short CPU-friendly training run, then a few songs from it (ABC and MIDI).
DEMO_TRAIN = [
    "music", "train", "--out", "runs/demo", "--steps", "300",
    "--rnn-units", "256", "--embedding-dim", "64", "--batch-size", "16",
    "--seq-length", "100", "--tracking", "offline",
]  # fmt: skip
DEMO_GENERATE = [
    "music", "generate", "--model", "runs/demo", "--out", "runs/demo/songs",
    "--num-songs", "4", "--midi",
]  # fmt: skip
LINT_PATHS = ["tfdl", "tests", "bench", "abc_data", "dev.py"]

USAGE = "usage: python3 dev.py demo | python3 dev.py test [PYTEST ARGS...]"


def venv_exe(name):
    """Path of an executable inside the venv (``Scripts\\name.exe`` on Windows)."""
    return BIN / (f"{name}.exe" if os.name == "nt" else name)


def run(cmd):
    """Print ``cmd``, run it from the repo root with the venv first on PATH; return its code."""
    cmd = [str(c) for c in cmd]
    shown = [os.path.relpath(c, ROOT) if Path(c).is_relative_to(ROOT) else c for c in cmd]
    print("+", shlex.join(shown), flush=True)
    env = {**os.environ, "VIRTUAL_ENV": str(VENV)}
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    return subprocess.call(cmd, cwd=ROOT, env=env)


def check(cmd):
    """Run ``cmd`` and stop dev.py with its exit code if it fails."""
    code = run(cmd)
    if code != 0:
        print(f"dev.py: command failed with exit code {code}", file=sys.stderr)
        sys.exit(code)


def ensure_venv():
    """Create .venv and install tfdl into it (editable, with test extras) when needed."""
    python = venv_exe("python")
    if not python.exists():
        check([sys.executable, "-m", "venv", VENV])
        # The pip bundled with an older Python may predate editable installs from pyproject.
        check([python, "-m", "pip", "install", "--upgrade", "pip"])
    newest_input = max(p.stat().st_mtime for p in INSTALL_INPUTS if p.exists())
    if not STAMP.exists() or STAMP.stat().st_mtime <= newest_input:
        check([python, "-m", "pip", "install", "-e", ".[test]"])
        STAMP.touch()
    return python


def demo():
    ensure_venv()
    demo_dir = ROOT / "runs" / "demo"
    if demo_dir.exists():  # a fresh demo each time: training refuses a dir with checkpoints
        print(f"+ rm -r {os.path.relpath(demo_dir, ROOT)}", flush=True)
        shutil.rmtree(demo_dir)
    for args in (DEMO_TRAIN, DEMO_GENERATE):
        check([venv_exe("tfdl"), *args])
    return 0


def test(pytest_args):
    python = ensure_venv()
    lint_paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
    ruff_code = run([python, "-m", "ruff", "check", *lint_paths])
    pytest_code = run([python, "-m", "pytest", "-q", *pytest_args])
    if pytest_code == 5:
        print("dev.py: pytest collected no tests", file=sys.stderr)
    if ruff_code != 0:
        print(f"dev.py: ruff check failed with exit code {ruff_code}", file=sys.stderr)
    # pytest's code first; a lint failure alone still fails the run.
    return pytest_code or ruff_code


def main(argv):
    # dev.py runs on whatever python3 the machine has, not on the venv's.
    if sys.version_info < (3, 10):  # noqa: UP036
        sys.exit(f"dev.py needs Python 3.10 or newer, this is {sys.version.split()[0]}")
    if argv[:1] == ["demo"] and len(argv) == 1:
        return demo()
    if argv[:1] == ["test"]:
        return test(argv[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

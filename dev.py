#!/usr/bin/env python3
"""Set up a development venv and run the demo or the tests. Needs only Python 3.10+.

    python3 dev.py demo          # .venv + install, train the folk-music RNN, write songs
    python3 dev.py test [ARGS]   # .venv + install, ruff, pytest (ARGS are passed to pytest)
    python3 dev.py test --quick  # the same without the tests marked slow
    python3 dev.py lock          # re-resolve the newest allowed versions into constraints.txt

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
# The exact versions the suite last passed with (pip freeze of a known-good venv). dev.py
# and so CI install with it; users installing tfdl get setup.cfg's ranges instead.
CONSTRAINTS = ROOT / "constraints.txt"
INSTALL_INPUTS = [ROOT / "setup.cfg", ROOT / "pyproject.toml", CONSTRAINTS]

# The demo: one minute of training (the recipe for a time budget picks the model for
# this machine and shows the trainer at work), then songs a musician can play from the
# pretrained model that ships with tfdl (ABC, MIDI, and WAV when a synthesiser is installed).
DEMO_TRAIN = ["music", "train", "--out", "runs/demo", "--minutes", "1", "--tracking", "offline"]
DEMO_SONGS = ROOT / "runs" / "demo" / "songs"
DEMO_GENERATE = [
    "music", "generate", "--out", "runs/demo/songs", "--num-songs", "4", "--midi",
    "--prime", "X:1\\nM:6/8\\nL:1/8\\nK:D\\n", "--seed", "7",
]  # fmt: skip
LINT_PATHS = ["tfdl", "tests", "bench", "abc_data", "dev.py"]

USAGE = (
    "usage: python3 dev.py demo | python3 dev.py test [--quick] [PYTEST ARGS...] | "
    "python3 dev.py lock"
)


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


def constraint_args():
    """``-c constraints.txt`` when it exists; its pins apply to the Python it names."""
    return ["-c", CONSTRAINTS] if CONSTRAINTS.exists() else []


def ensure_venv(venv=VENV, constrained=True):
    """Create ``venv`` and install tfdl into it (editable, with test extras) when needed."""
    bin_dir = venv / BIN.relative_to(VENV)
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    stamp = venv / STAMP.name
    pins = constraint_args() if constrained else []
    if not python.exists():
        check([sys.executable, "-m", "venv", venv])
        # The pip bundled with an older Python may predate editable installs from pyproject.
        check([python, "-m", "pip", "install", "--upgrade", "pip", *pins])
    newest_input = max(p.stat().st_mtime for p in INSTALL_INPUTS if p.exists())
    if not stamp.exists() or stamp.stat().st_mtime <= newest_input:
        check([python, "-m", "pip", "install", "-e", ".[test]", *pins])
        stamp.touch()
    return python


def lock():
    """Write constraints.txt: the newest versions setup.cfg allows, resolved in a fresh venv.

    Run it to move the development and CI installs to newer libraries, then run
    ``python3 dev.py test`` (which re-installs from the new file) and commit the file only
    if the suite passes. Each pin carries the Python version it was resolved on, so on
    another Python pip resolves freely rather than failing on a pin that has no wheel.
    """
    scratch = ROOT / ".venv-lock"
    if scratch.exists():
        shutil.rmtree(scratch)
    python = ensure_venv(scratch, constrained=False)
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze", "--all", "--exclude-editable"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    pins = sorted(
        (line for line in frozen.splitlines() if "==" in line and not line.startswith("-e ")),
        key=str.lower,
    )
    header = [
        "# Exact versions for dev.py and CI: python3 dev.py lock writes this file from a",
        "# fresh venv with the newest versions setup.cfg allows. setup.cfg keeps the ranges",
        f"# users install with. Resolved on Python {version}; other Pythons resolve freely.",
    ]
    lines = [f'{pin} ; python_version == "{version}"' for pin in pins]
    CONSTRAINTS.write_text("\n".join(header + lines) + "\n")
    shutil.rmtree(scratch)
    print(f"wrote {len(lines)} pins to {CONSTRAINTS.name}; now run: python3 dev.py test")
    return 0


def demo():
    ensure_venv()
    demo_dir = ROOT / "runs" / "demo"
    if demo_dir.exists():  # a fresh demo each time: training refuses a dir with checkpoints
        print(f"+ rm -r {os.path.relpath(demo_dir, ROOT)}", flush=True)
        shutil.rmtree(demo_dir)
    check([venv_exe("tfdl"), *DEMO_TRAIN])
    synthesiser = shutil.which("fluidsynth") or shutil.which("timidity")
    check([venv_exe("tfdl"), *DEMO_GENERATE, *(["--wav"] if synthesiser else [])])
    print(songs_summary(DEMO_SONGS, synthesiser))
    return 0


def songs_summary(songs_dir, synthesiser):
    """What the demo wrote, and how to listen to it: the last thing a newcomer reads."""
    abc = sorted(songs_dir.glob("song_*.abc"))
    midi = sorted(songs_dir.glob("song_*.mid"))
    wav = sorted(songs_dir.glob("song_*.wav"))
    where = os.path.relpath(songs_dir, ROOT)
    lines = [
        "",
        f"Your songs, from the pretrained model: {len(abc)} tunes in {where}/",
        f"  ABC notation:  {', '.join(p.name for p in abc)}",
        f"  MIDI:          {', '.join(p.name for p in midi) or 'none'}",
    ]
    if wav:
        lines.append(f"  audio (WAV):   {', '.join(p.name for p in wav)}")
        lines.append(f"Listen: open {where}/{wav[0].name} in any audio player.")
    else:
        lines.append("Listen: open a .mid file in any MIDI player or MuseScore, or install")
        lines.append("  FluidSynth (apt-get install fluidsynth timgm6mb-soundfont) for WAV files.")
    lines.append(
        f"Sheet music: paste {where}/{abc[0].name if abc else 'song_001.abc'} into any ABC "
        "viewer, or run 'tfdl music export --sheet' with abcm2ps installed."
    )
    lines.append(f"Every song was checked: {len(midi)} of {len(abc)} are valid and play in time.")
    return "\n".join(lines)


def test(pytest_args):
    python = ensure_venv()
    if "--quick" in pytest_args:  # everything but the slow marks: while working on a change
        pytest_args = [a for a in pytest_args if a != "--quick"] + ["-m", "not slow"]
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
    if argv == ["lock"]:
        return lock()
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run tfdl's ABC functions on hostile input in a child process with a deadline and a
memory ceiling, and say how each call ended: a value, a `UserError`, or a failure.

Used by test_limits.py (one child per reproducer) and test_fuzz.py (one child per
batch of examples). The child imports the pure-Python layers (`tfdl.music.meter`,
`songs`, `clean`, `midi`, `export`, `studio.form`): they load no TensorFlow (nor does
``import tfdl``), so a child starts in under a second.
"""

import io
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIB = 2**30

_CHILD = r"""
import importlib, pickle, resource, signal, sys, traceback

limit, per_call = int(sys.argv[2]), float(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class Deadline(BaseException):
    pass


def alarm(signum, frame):
    raise Deadline()


signal.signal(signal.SIGALRM, alarm)
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]  # this checkout's tfdl; the drivers
from tfdl.errors import UserError

calls = pickle.load(sys.stdin.buffer)
out = sys.stdout.buffer
for target, args in calls:
    module, _, name = target.partition(":")
    try:
        function = getattr(importlib.import_module(module), name)
        signal.setitimer(signal.ITIMER_REAL, per_call)
        try:
            value = function(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            result = ("value", pickle.loads(pickle.dumps(value)) and value)
            pickle.dumps(result)
        except Exception:  # not picklable: its repr
            result = ("value", repr(value))
    except UserError as e:
        result = ("user error", str(e))
    except Deadline:
        result = ("timeout", f"no answer within {per_call} s")
    except BaseException as e:  # MemoryError, RecursionError, a bug: all failures here
        result = ("failure", "".join(traceback.format_exception(e))[-3000:])
    pickle.dump(result, out)
    out.flush()
"""


@dataclass
class Outcome:
    """How one call ended: ``kind`` is ``"value"`` (``text`` the value returned, or its
    repr if it cannot be pickled), ``"user error"`` (``text`` the message), ``"failure"``
    (an exception other than UserError: its traceback), ``"timeout"`` or ``"crash"``
    (the child died, e.g. of memory)."""

    kind: str
    text: object

    @property
    def answered(self):
        """A value or a one-line UserError: what hostile input may get."""
        return self.kind == "value" or (self.kind == "user error" and "\n" not in self.text)

    @property
    def value(self):
        """The value returned; AssertionError naming the outcome if there is none."""
        assert self.kind == "value", f"{self.kind}: {self.text}"
        return self.text


def run_calls(calls, seconds=10.0, memory=2 * GIB):
    """Run ``calls`` (``[("module:function", args), ...]``) one after another in one child
    process limited to ``memory`` bytes of address space, each call to ``seconds``.

    Returns one `Outcome` per call. A call past its deadline gets ``"timeout"`` and the
    next call runs; if the child itself is stuck (in C code no signal interrupts) it is
    killed, or if it dies, the call it was running gets ``"timeout"`` or ``"crash"`` and
    the calls after it get nothing (the list is shorter than ``calls``).
    """
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(ROOT), str(memory), str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        # the imports, then each call; a call that overruns is stopped in the child
        stdout, stderr = child.communicate(
            pickle.dumps(calls), timeout=5 + 2 * seconds * len(calls)
        )
        timed_out = False
    except subprocess.TimeoutExpired:
        child.kill()
        stdout, stderr = child.communicate()
        timed_out = True
    outcomes = []
    stream = io.BytesIO(stdout)
    while len(outcomes) < len(calls):
        try:
            outcomes.append(Outcome(*pickle.load(stream)))
        except EOFError:
            break
    if len(outcomes) < len(calls):
        if timed_out:
            outcomes.append(Outcome("timeout", f"still running after {seconds} s"))
        else:
            tail = stderr.decode(errors="replace")[-2000:]
            outcomes.append(Outcome("crash", f"exit status {child.returncode}: {tail}"))
    return outcomes


def run_call(target, *args, seconds=10.0, memory=2 * GIB):
    """`run_calls` for one call: its `Outcome`."""
    return run_calls([(target, args)], seconds, memory)[0]


# -- drivers: each entry point as hostile input reaches it, run in the child ------------
# A verdict (BarError from the bar reader, FormError from the studio's checks) is an
# answer: it is returned as text. Anything else that escapes is a failure.

VOCAB = ROOT / "tfdl" / "pretrained" / "music" / "vocab.json"


def feed_in_pieces(text):
    """The bar reader as the sampler drives it: the header, then one bar at a time."""
    import re

    from tfdl.music.meter import BarError, BarReader, verdict

    lines = text.split("\n")
    key_line = next((n for n, line in enumerate(lines) if line.startswith("K:")), None)
    if key_line is None:
        return "no K: line"
    try:
        reader = BarReader.from_header(lines[:key_line])
        for piece in re.split(r"(?<=[|\]])", "\n".join(lines[key_line + 1 :]) + "\n"):
            reader.feed(piece)
        return verdict(reader)
    except BarError as e:
        return f"BarError: {e}"


def clean(text):
    """The corpus builder's path: normalise, then clean."""
    from tfdl.music.abc import normalise_tune
    from tfdl.music.clean import clean_tune

    tune = normalise_tune(text)
    return None if tune is None else clean_tune(tune)


def write_midi(text):
    """`tfdl.music.export.abc_to_midi`: the size of the MIDI file it writes."""
    import tempfile

    from tfdl.music.export import abc_to_midi

    with tempfile.TemporaryDirectory() as tmp:
        return abc_to_midi(text, Path(tmp) / "song.mid").stat().st_size


def studio_request(body):
    """The studio's checks of a ``POST /api/generate`` body (bytes), before any model."""
    from tfdl.music.studio.form import FormError, parse_body, parse_request
    from tfdl.music.vocab import Vocabulary

    try:
        return parse_request(parse_body(body), Vocabulary.load(VOCAB)).to_json()
    except FormError as e:
        assert "\n" not in str(e), str(e)
        return f"400 {e.field}: {e}"

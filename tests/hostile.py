"""Run tfdl's ABC functions on hostile input in a child process with a deadline and a
memory ceiling, and say how each call ended: a value, a `UserError`, or a failure.

Used by test_limits.py (one child per reproducer) and test_fuzz.py (one child per
batch of examples). The child imports the pure-Python layers (`tfdl.music.meter`,
`songs`, `clean`, `midi`, `export`, `studio.form`) without ``tfdl/__init__.py``, which
starts TensorFlow: they import none of it, and a child then starts in under a second.
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
import importlib, pickle, resource, sys, traceback, types

limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
tfdl = types.ModuleType("tfdl")  # the package without its __init__ (TensorFlow)
tfdl.__path__ = [sys.argv[1] + "/tfdl"]
sys.modules["tfdl"] = tfdl
from tfdl.errors import UserError

calls = pickle.load(sys.stdin.buffer)
out = sys.stdout.buffer
for target, args in calls:
    module, _, name = target.partition(":")
    try:
        value = getattr(importlib.import_module(module), name)(*args)
        try:
            result = ("value", pickle.loads(pickle.dumps(value)) and value)
            pickle.dumps(result)
        except Exception:  # not picklable: its repr
            result = ("value", repr(value))
    except UserError as e:
        result = ("user error", str(e))
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
    process limited to ``memory`` bytes of address space and ``seconds`` in all.

    Returns one `Outcome` per call; when the child is killed or dies, the call it was
    running gets ``"timeout"`` or ``"crash"`` and the calls after it get nothing (the
    list is shorter than ``calls``).
    """
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(ROOT), str(memory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        stdout, stderr = child.communicate(pickle.dumps(calls), timeout=seconds)
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

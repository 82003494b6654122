"""Test set-up: quiet TensorFlow, and two logical CPUs so MirroredStrategy has replicas."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("COMET_DISABLE_AUTO_LOGGING", "1")
os.environ.pop("COMET_API_KEY", None)  # tests never go online

import tensorflow as tf  # noqa: E402

# Must run before TensorFlow initialises its devices, i.e. before any test touches a tensor.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


# -- a tiny music model, trained once per session, shared by the CLI tests ----------------

import json  # noqa: E402

import pytest  # noqa: E402

# A model that trains in seconds: enough to exercise every command, not to make music.
TINY_MUSIC_SETTINGS = {
    "steps": 30, "rnn_units": 16, "embedding_dim": 8, "batch_size": 4, "seq_length": 40,
    "eval_every": 15, "checkpoint_every": 15,
}  # fmt: skip


def tiny_music(progress=False, **changes):
    """``tfdl music train`` flags of the tiny model, with ``changes`` (``steps=20``:
    ``--steps 20``; a value of None leaves the flag out), and ``--no-progress``."""
    settings = {**TINY_MUSIC_SETTINGS, **changes}
    flags = [[f"--{k.replace('_', '-')}", str(v)] for k, v in settings.items() if v is not None]
    return [part for flag in flags for part in flag] + ([] if progress else ["--no-progress"])


TINY_MUSIC = tiny_music()


@pytest.fixture(scope="session")
def tunes_file(tmp_path_factory):
    """40 tunes of the shipped corpus in one ABC file."""
    from tfdl.music import abc

    path = tmp_path_factory.mktemp("abc") / "tunes.abc"
    path.write_text("\n\n".join(abc.load_corpus()[:40]) + "\n")
    return path


@pytest.fixture(scope="session")
def trained(tunes_file, tmp_path_factory):
    """A model directory from `tfdl music train` on `tunes_file`, tracked offline."""
    from tfdl.cli import main

    out = tmp_path_factory.mktemp("run")
    argv = ["music", "train", "--data", str(tunes_file), "--out", str(out)]
    assert main([*argv, "--tracking", "offline", *TINY_MUSIC]) == 0
    return out


def last_json_line(capsys):
    """The last line a command printed, parsed as JSON."""
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# -- hypothesis profiles for tests/test_fuzz.py --------------------------------------------

try:
    from hypothesis import HealthCheck, Phase, settings
except ImportError:  # the fuzz tests skip without it
    pass
else:
    _slow_examples = [HealthCheck.too_slow, HealthCheck.data_too_large]
    _slow_examples += [HealthCheck.large_base_example]
    # ci: four batches per entry point, well under a minute in all; long: ~10 minutes
    # (python3 dev.py test -m fuzz --hypothesis-profile long). No example database
    # (nothing is written into the checkout) and no shrinking: each try of a smaller
    # example is another child process, and the failure message already names the
    # input that failed.
    for _name, _examples in (("ci", 4), ("long", 200)):
        settings.register_profile(
            _name,
            max_examples=_examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=_slow_examples,
        )
    settings.load_profile("ci")

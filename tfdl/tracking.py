"""Experiment tracking with Comet, behind one small class that never stops training.

A `Tracker` logs exactly what tfdl hands it: hyperparameters (`log_parameters`),
scalar metrics per step (`log_metrics`), matplotlib figures (`log_figure`), files
(`log_asset`) and text such as generated ABC tunes (`log_text`). Comet's own
auto-logging (keras/tensorflow hooks, code, git, environment, system metrics,
stdout) is switched off, so an experiment holds nothing else.

Modes:

- ``"online"``: stream to comet.com (needs ``COMET_API_KEY`` or ``comet login``).
- ``"offline"``: write everything to one zip archive on disk; no network. Upload it
  later, from any machine with an API key, with ``comet upload path/to/archive.zip``.
- ``"off"``: every call is a no-op and comet_ml is never imported.

If Comet fails in any way (not installed, bad key, no network, unwritable
directory, a logging call raising) the tracker warns once with a
`TrackingWarning`, disables itself, and every later call is a silent no-op.
"""

from __future__ import annotations

import glob
import logging
import os
import warnings
from collections.abc import Mapping

from tfdl.errors import UserError

MODES = ("off", "offline", "online")

# Comet settings for every experiment: tfdl logs explicitly, so comet must not add
# its own copies of metrics, nor spend time on code, git, environment or CO2 scans,
# nor wrap stdout (which fights keras progress bars and pytest capture).
_QUIET = dict(
    log_code=False,
    log_graph=False,
    parse_args=False,
    auto_param_logging=False,
    auto_metric_logging=False,
    auto_output_logging=False,
    log_env_details=False,
    log_git_metadata=False,
    log_git_patch=False,
    auto_log_co2=False,
    display_summary_level=0,
)


# The one INFO line of comet's that a user needs: how to upload an offline run.
_UPLOAD_LINE = "To upload this offline experiment"


class _CometConsoleFilter(logging.Filter):
    """Lets comet's errors and its upload line reach the console, and nothing else."""

    def filter(self, record):
        return record.levelno >= logging.ERROR or str(record.msg).startswith(_UPLOAD_LINE)


def _quiet_comet_console():
    """Keep comet's console chatter (INFO, WARNING) out of tfdl's output.

    ``TFDL_VERBOSE=1`` lets it all through, as it does TensorFlow's start-up lines.
    Comet's log file, when configured, still gets everything.
    """
    if os.environ.get("TFDL_VERBOSE") == "1":
        return
    for handler in logging.getLogger("comet_ml").handlers:
        console = isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        )
        if console and not any(isinstance(f, _CometConsoleFilter) for f in handler.filters):
            handler.addFilter(_CometConsoleFilter())


class TrackingWarning(UserWarning):
    """Comet failed; the tracker is now disabled and training carries on."""


def resolve_mode(mode=None, env=os.environ):
    """Return the tracking mode to use; `None` means online if `COMET_API_KEY` is set."""
    if mode is None:
        return "online" if env.get("COMET_API_KEY") else "offline"
    if mode not in MODES:
        raise ValueError(f"unknown tracking mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


class Tracker:
    """Logs one training run to Comet (online), to a zip archive (offline), or nowhere.

    Args:
        mode: ``"online"``, ``"offline"``, ``"off"``, or `None` for online when
            ``COMET_API_KEY`` is set and offline otherwise.
        project_name: Comet project the run belongs to.
        offline_dir: directory for the offline archive, and for the archive comet
            falls back to if an online run loses the network (created if missing).
        experiment_name: display name of the run; Comet picks one if `None`.
        tags: list of strings attached to the run.

    Example:
    ```python
    with Tracker("offline", offline_dir="runs/comet") as tracker:
        tracker.log_parameters({"learning_rate": 1e-3})
        tracker.log_metrics({"loss": loss}, step=step)
    print(tracker.archive_path)  # then: comet upload <that path>
    ```
    """

    def __init__(
        self,
        mode=None,
        *,
        project_name="tfdl",
        offline_dir="comet_offline",
        experiment_name=None,
        tags=None,
    ):
        self._mode = resolve_mode(mode)
        self.project_name = project_name
        self.offline_dir = offline_dir
        self.experiment_name = experiment_name
        self.tags = list(tags or [])
        self._experiment = None
        self._archive_path = None
        self._warned = False
        if self._mode != "off":
            try:
                self._experiment = self._start()
            except Exception as exc:
                self._warn("starting the experiment", exc, stacklevel=3)

    def _start(self):
        # Both variables are read when comet_ml is first imported. The first stops
        # comet patching keras/tensorflow to auto-log (tfdl logs explicitly); the
        # second stops comet reporting its internal errors to sentry.io.
        os.environ.setdefault("COMET_DISABLE_AUTO_LOGGING", "1")
        os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
        import comet_ml

        _quiet_comet_console()
        os.makedirs(self.offline_dir, exist_ok=True)  # comet creates one level only
        config = comet_ml.ExperimentConfig(
            name=self.experiment_name,
            tags=self.tags,
            # offline archive; also where an online run falls back to if the network drops
            offline_directory=self.offline_dir,
            **_QUIET,
        )
        # mode="create": always a fresh experiment, never one already running here.
        experiment = comet_ml.start(
            project_name=self.project_name,
            mode="create",
            online=self._mode == "online",
            experiment_config=config,
        )
        if not experiment.alive:  # comet logs why (bad key, no network) and carries on
            raise UserError(
                "comet could not start the experiment (see COMET ERROR above): check "
                "COMET_API_KEY and the network, or pass --tracking offline"
            )
        return experiment

    @property
    def mode(self):
        """The resolved mode: ``"online"``, ``"offline"`` or ``"off"``."""
        return self._mode

    @property
    def enabled(self):
        """True while there is a live experiment to log to."""
        return self._experiment is not None

    @property
    def archive_path(self):
        """Path of the offline zip written by `end()`, or `None`."""
        return self._archive_path

    def log_parameters(self, params: Mapping):
        """Log hyperparameters, e.g. ``dataclasses.asdict(config)``."""
        self._call("log_parameters", lambda exp: exp.log_parameters(dict(params)))

    def log_metrics(self, metrics: Mapping, step=None):
        """Log scalar metrics; numpy and tensorflow scalars are converted to floats.

        A value `float()` cannot convert (e.g. a whole tensor) disables the tracker.
        """
        self._call(
            "log_metrics",
            lambda exp: exp.log_metrics({k: float(v) for k, v in metrics.items()}, step=step),
        )

    def log_figure(self, name, figure, *, step=None):
        """Log a matplotlib Figure (stored as SVG); the caller still owns and closes it."""
        self._call("log_figure", lambda exp: exp.log_figure(name, figure, step=step))

    def log_asset(self, path, name=None):
        """Log a file (checkpoint, MIDI, ...) under `name`, default its base name."""
        self._call("log_asset", lambda exp: exp.log_asset(os.fspath(path), file_name=name))

    def log_text(self, text, metadata=None, *, step=None):
        """Log a text sample, e.g. a generated tune, with optional metadata dict."""
        self._call("log_text", lambda exp: exp.log_text(text, step=step, metadata=metadata))

    def end(self):
        """Finish the run and flush everything; returns `archive_path` (offline only).

        Comet polls its writer thread once a second, so this takes about a second.
        """
        experiment, self._experiment = self._experiment, None
        if experiment is None:
            return self._archive_path
        try:
            experiment.end()
            if self._mode == "offline":
                # comet may fall back to a temporary directory; offline_directory says where
                pattern = os.path.join(experiment.offline_directory, experiment.get_key() + "*.zip")
                self._archive_path = next(iter(glob.glob(pattern)), None)
        except Exception as exc:
            self._warn("ending the experiment", exc)
        return self._archive_path

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.end()
        return False

    def _call(self, what, fn):
        if self._experiment is None:
            return
        try:
            fn(self._experiment)
        except Exception as exc:
            self._warn(what, exc)
            self.end()  # disables; best effort to keep what was logged before the failure

    def _warn(self, what, exc, stacklevel=4):
        if self._warned:
            return
        self._warned = True
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
        warnings.warn(
            f"Comet tracking disabled, {what} failed ({reason}); training continues",
            TrackingWarning,
            stacklevel=stacklevel,  # point at the caller's line
        )


def make_tracker(mode, out_dir, **kwargs) -> Tracker:
    """A `Tracker` whose offline archive goes to ``out_dir/comet``."""
    return Tracker(mode, offline_dir=os.path.join(os.fspath(out_dir), "comet"), **kwargs)

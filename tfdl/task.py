"""The skeleton every task's ``train`` follows (digits, faces): one place for the run.

    refuse a directory that already holds a run (unless resuming it) -> record the
    run's settings -> seed -> build the model -> start tracking -> fit -> evaluate ->
    save model.keras and settings.json -> end tracking

The task brings what differs: its data (loaded before, described by a small dict), how
to build the model, how to fit it and how to evaluate it. The tracker always ends, also
when training fails, so an offline Comet archive is never left half-written.

Resume: a run records its config and data beside its checkpoints
(``checkpoints/run.json``, as the music trainer does). `resumed_config` gives the
config to resume with and refuses one that differs from the recorded one, naming the
setting; `run_training` does the same for the data.
"""

import dataclasses
import json
import time
from pathlib import Path

import keras

from tfdl.checkpoints import CheckpointDir, CheckpointError, write_text_atomic
from tfdl.errors import UserError
from tfdl.saving import SETTINGS_FILE, save_model_dir
from tfdl.tracking import make_tracker

RUN_FILE = "run.json"


def saved_run(out_dir):
    """``{"config": {...}, "data": {...}}`` of the run whose checkpoints are in
    ``out_dir`` (its ``checkpoints/run.json``), or None."""
    path = Path(out_dir) / "checkpoints" / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _as_json(values):
    return json.loads(json.dumps(values))  # tuples become lists, as in run.json


def refuse_changes(now, saved, free=()):
    """A `UserError` naming the first setting of ``now`` that differs from ``saved``
    (a run's settings against those of the run it resumes)."""
    for name, value in now.items():
        if name not in free and name in saved and value != saved[name]:
            raise UserError(
                f"{name} is {value!r} but the run being resumed used {saved[name]!r}: "
                f"resume with the same {name}, or train into another --out"
            )


def resumed_config(config_class, config, out_dir):
    """The config that resumes the run in ``out_dir``: its own when ``config`` is None,
    else ``config``, which must equal it but for more ``epochs``.

    Raises CheckpointError when ``out_dir`` holds nothing to resume, and ValueError
    naming the first setting that differs.
    """
    out_dir = Path(out_dir)
    if CheckpointDir(out_dir / "checkpoints").latest() is None:
        raise CheckpointError(f"{out_dir} holds no checkpoint to resume from")
    run = saved_run(out_dir)
    if run is None:
        raise CheckpointError(
            f"{out_dir} holds checkpoints but not the settings they were trained with "
            f"(checkpoints/{RUN_FILE}): cannot resume them"
        )
    saved = run["config"]
    if config is None:
        names = {f.name for f in dataclasses.fields(config_class)}
        return config_class(**{k: v for k, v in saved.items() if k in names})
    refuse_changes(_as_json(dataclasses.asdict(config)), saved, free=("epochs",))
    if config.epochs < saved["epochs"]:
        raise UserError(
            f"epochs is {config.epochs} but the run being resumed planned {saved['epochs']}: "
            "resume with as many epochs or more"
        )
    return config


def resumed_data(out_dir, data, file_sources):
    """``data``, or when None the file the run in ``out_dir`` was trained on, if its
    source is one of ``file_sources`` (else None: the task's default data again)."""
    saved = saved_run(out_dir)["data"]
    if data is None and saved.get("source") in file_sources:
        return saved["data"]
    return data


def run_training(
    task, config, out_dir, data, build, fit, evaluate, *, tracking, resume=False, checkpoints=True
):
    """Train, evaluate and save one model; returns its settings (as saved).

    Args:
        task: the task's name, e.g. "digits": the settings' ``task`` and the
            experiment's name prefix.
        config: the task's config dataclass (it has a ``seed``); all its fields are
            logged as parameters and saved.
        out_dir: the model directory.
        data: JSON-able facts about the data (``source``, ``data``, image counts),
            logged and saved with the settings.
        build: ``build(config) -> model``, called after seeding.
        fit: ``fit(model, tracker) -> History``.
        evaluate: ``evaluate(model, tracker) -> {metric: value}`` on held-out data
            (it may draw plots); logged as ``test_<metric>`` and saved.
        tracking: "off", "offline" or "online" (see `tfdl.tracking`).
        resume: ``fit`` goes on from the checkpoints in ``out_dir``; ``config`` comes
            from `resumed_config`, and ``data`` must be the data they were trained on.
        checkpoints: ``fit`` writes checkpoints: refuse an ``out_dir`` that already
            holds some (unless resuming) and record the run's settings beside them
            (False for a training loop that writes none).
    """
    out_dir = Path(out_dir)
    if resume:
        refuse_changes(_as_json(data), saved_run(out_dir)["data"])
    elif checkpoints and CheckpointDir(out_dir / "checkpoints").latest() is not None:
        raise CheckpointError(
            f"{out_dir} already holds checkpoints: pass --resume, or train into another --out"
        )
    if checkpoints:  # resumed, the same settings, but perhaps more epochs
        run = {"config": dataclasses.asdict(config), "data": data}
        write_text_atomic(out_dir / "checkpoints" / RUN_FILE, json.dumps(run, indent=2))
    keras.utils.set_random_seed(config.seed)
    model = build(config)
    facts = {**dataclasses.asdict(config), **data, "parameters": model.count_params()}
    tracker = make_tracker(tracking, out_dir, experiment_name=f"{task}-{out_dir.name}")
    tracker.log_parameters(facts)
    started = time.time()
    try:
        history = fit(model, tracker)
        seconds = time.time() - started
        metrics = evaluate(model, tracker)
        tracker.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        settings = {
            "task": task,
            **facts,
            **metrics,
            "steps_done": history.steps[-1] if history.steps else 0,
            "interrupted": history.interrupted,
            "train_seconds": round(seconds, 1),
        }
        settings = json.loads(json.dumps(settings))  # exactly what settings.json holds
        save_model_dir(out_dir, model, settings)
        tracker.log_asset(out_dir / SETTINGS_FILE)
        return settings
    finally:
        tracker.end()

"""The skeleton every task's ``train`` follows (digits, faces, music): one place for the run.

    refuse a directory that already holds a run (unless resuming it) -> record the
    run's settings -> seed -> build the model -> start tracking -> fit -> evaluate ->
    save the model directory -> end tracking

The task brings what differs: its data (loaded before, described by a small dict), how
to build the model, how to fit it and how to evaluate it; if it needs, also what else
its run records, settings drawn from the history and how it saves (music: a recipe, the
validation loss of the weights kept, a vocabulary beside the model and songs after it).
The tracker always ends, also when training fails, so an offline Comet archive is never
left half-written.

Resume: a run records its config and data beside its checkpoints
(``checkpoints/run.json``). `resumed_config` gives the config to resume with and refuses
one that differs from the recorded one, naming the setting; `run_training` does the
same for the data.

Several workers: each runs the same ``train`` into the directory that
`tfdl.command.worker_out_dir` gives it, so only the chief's files stay.
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


def refuse_to_overwrite(out_dir):
    """A `CheckpointError` when ``out_dir`` already holds a run's checkpoints (a fresh run
    there would interleave its checkpoints with theirs)."""
    if CheckpointDir(Path(out_dir) / "checkpoints").latest() is not None:
        raise CheckpointError(
            f"{out_dir} already holds checkpoints: pass --resume, or train into another --out"
        )


def no_fewer_epochs(config, saved):
    """The epoch tasks' resume rule: train on, never back."""
    if config.epochs < saved["epochs"]:
        raise UserError(
            f"epochs is {config.epochs} but the run being resumed planned {saved['epochs']}: "
            "resume with as many epochs or more"
        )


def resumed_config(config_class, config, out_dir, free=("epochs",), check=no_fewer_epochs):
    """The config that resumes the run in ``out_dir``: its own when ``config`` is None,
    else its own with the settings named in ``free`` taken from ``config``.

    Every other setting ``config`` gives (not None) must equal the run's, and
    ``check(config, saved)`` may refuse more (by default fewer ``epochs``). Raises
    CheckpointError when ``out_dir`` holds nothing to resume, and ValueError naming the
    first setting that differs.
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
    names = {f.name for f in dataclasses.fields(config_class)}
    kept = {k: v for k, v in saved.items() if k in names}
    if config is None:
        return config_class(**kept)
    given = {k: v for k, v in _as_json(dataclasses.asdict(config)).items() if v is not None}
    refuse_changes(given, saved, free=free)
    check(config, saved)
    return config_class(**{**kept, **{k: v for k, v in given.items() if k in free}})


def resumed_data(out_dir, data, file_sources):
    """``data``, or when None the file the run in ``out_dir`` was trained on, if its
    source is one of ``file_sources`` (else None: the task's default data again)."""
    saved = saved_run(out_dir).get("data", {})  # (music runs recorded no data before)
    if data is None and saved.get("source") in file_sources:
        return saved["data"]
    return data


def run_training(
    task, config, out_dir, data, build, fit, evaluate, *, tracking, resume=False,
    checkpoints=True, record=None, summary=None, save=None,
):  # fmt: skip
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
        record: more JSON-able entries of the run's record (``checkpoints/run.json``),
            beside ``config`` and ``data`` (music: its recipe's reasons and budget).
        summary: ``summary(history) -> {name: value}``, more settings drawn from the
            history (music: the validation loss of the weights kept); they come last
            and may replace the skeleton's own (``train_seconds``).
        save: ``save(out_dir, model, settings, tracker)`` writes the model directory
            (default: `tfdl.saving.save_model_dir`, model.keras and settings.json).
    """
    out_dir = Path(out_dir)
    _record_run(out_dir, config, data, resume, checkpoints, record or {})
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
            **(summary(history) if summary else {}),
        }
        settings = json.loads(json.dumps(settings))  # exactly what settings.json holds
        if save is None:
            save_model_dir(out_dir, model, settings)
        else:
            save(out_dir, model, settings, tracker)
        tracker.log_asset(out_dir / SETTINGS_FILE)
        return settings
    finally:
        tracker.end()


def _record_run(out_dir, config, data, resume, checkpoints, record):
    """Refuse to start over a run, or to resume one on other data; then (re)write the
    run's record (resumed: the same settings, but perhaps more epochs or steps)."""
    if resume:  # a run recorded before run.json held its data (music) had no check
        refuse_changes(_as_json(data), saved_run(out_dir).get("data", {}))
    elif checkpoints:
        refuse_to_overwrite(out_dir)
    if checkpoints:
        run = {"config": dataclasses.asdict(config), "data": data, **record}
        write_text_atomic(out_dir / "checkpoints" / RUN_FILE, json.dumps(run, indent=2))

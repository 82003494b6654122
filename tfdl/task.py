"""The skeleton every task's ``train`` follows (digits, faces): one place for the run.

    refuse a directory that already holds a run -> seed -> build the model -> start
    tracking -> fit -> evaluate -> save model.keras and settings.json -> end tracking

The task brings what differs: its data (loaded before, described by a small dict), how
to build the model, how to fit it and how to evaluate it. The tracker always ends, also
when training fails, so an offline Comet archive is never left half-written.
"""

import dataclasses
import json
import time
from pathlib import Path

import keras

from tfdl.checkpoints import CheckpointDir, CheckpointError
from tfdl.saving import SETTINGS_FILE, save_model_dir
from tfdl.tracking import make_tracker


def run_training(task, config, out_dir, data, build, fit, evaluate, *, tracking, fresh=True):
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
        fresh: refuse an ``out_dir`` that already holds checkpoints (False for a
            training loop that writes none).
    """
    out_dir = Path(out_dir)
    if fresh and CheckpointDir(out_dir / "checkpoints").latest() is not None:
        raise CheckpointError(f"{out_dir} already holds checkpoints: train into another --out")
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

"""Tracker tests against the real comet_ml in offline mode: no mocks of comet, no network.

An offline archive is a zip holding ``experiment.json`` (project, tags, times) and
``messages.json`` (one JSON message per line: ``parameter_msg``, ``metric_msg``,
``log_other``, ``file_upload``), plus one member per uploaded file (figure SVG,
asset, text sample) named by the ``file_path`` of its ``file_upload`` message.
"""

import json
import os
import re
import socket
import sys
import warnings
import zipfile

import matplotlib
import numpy as np
import pytest
import tensorflow as tf

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tfdl.tracking import Tracker, TrackingWarning, make_tracker, resolve_mode  # noqa: E402

ABC_TUNE = "X:1\nT:test\nK:C\nCDEF|GABc|\n"


def read_archive(path):
    """Parse an offline archive into plain Python structures."""
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("experiment.json"))
        lines = archive.read("messages.json").decode().splitlines()
        messages = [json.loads(line) for line in lines if line.strip()]
        files = {name: archive.read(name) for name in archive.namelist()}
    params = {
        m["payload"]["param"]["paramName"]: m["payload"]["param"]["paramValue"]
        for m in messages
        if m["type"] == "parameter_msg" and m["payload"]["param"]["source"] == "manual"
    }
    metrics = [
        (
            m["payload"]["metric"]["metricName"],
            m["payload"]["metric"]["metricValue"],
            m["payload"]["metric"]["step"],
        )
        for m in messages
        if m["type"] == "metric_msg"
    ]
    others = {
        m["payload"]["key"]: m["payload"]["value"] for m in messages if m["type"] == "log_other"
    }
    uploads = [m["payload"] for m in messages if m["type"] == "file_upload"]
    return {
        "meta": meta,
        "params": params,
        "metrics": metrics,
        "others": others,
        "uploads": uploads,
        "files": files,
    }


def tracking_warnings(caught):
    return [w for w in caught if issubclass(w.category, TrackingWarning)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One offline run logging every kind of value, with the network refused."""
    out_dir = tmp_path_factory.mktemp("run")
    asset = out_dir / "tune.abc"
    asset.write_text(ABC_TUNE)
    figure, axes = plt.subplots()
    axes.plot([3.0, 2.0, 1.0])
    connections = []

    def refuse(*args, **kwargs):
        connections.append(args)
        raise OSError("network disabled in tests")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        with make_tracker(
            "offline", out_dir, experiment_name="unit", tags=["test", "lab1"]
        ) as tracker:
            assert tracker.enabled and tracker.mode == "offline"
            tracker.log_parameters({"learning_rate": 1e-3, "units": 32, "cell": "lstm"})
            tracker.log_metrics({"loss": 2.5, "seen": np.int64(64)}, step=0)
            tracker.log_metrics({"loss": np.float32(1.25), "accuracy": tf.constant(0.5)}, step=1)
            tracker.log_figure("loss_curve", figure)
            tracker.log_asset(asset, name="sample.abc")
            tracker.log_text(ABC_TUNE, metadata={"epoch": 1})
    plt.close(figure)
    return {"tracker": tracker, "out_dir": out_dir, "connections": connections}


def test_offline_archive_is_written_under_out_dir_comet(run):
    tracker = run["tracker"]
    assert not tracker.enabled
    assert os.path.dirname(tracker.archive_path) == str(run["out_dir"] / "comet")
    assert zipfile.is_zipfile(tracker.archive_path)
    assert tracker.end() == tracker.archive_path  # a second end is a no-op
    assert run["connections"] == []


def test_archive_holds_parameters_metrics_name_and_tags(run):
    logged = read_archive(run["tracker"].archive_path)
    assert logged["params"] == {"learning_rate": 1e-3, "units": 32, "cell": "lstm"}
    # comet adds its own "process duration" metric at the end; ignore it
    metrics = [m for m in logged["metrics"] if m[0] != "process duration"]
    assert sorted(metrics, key=lambda m: (m[2], m[0])) == [
        ("loss", 2.5, 0),
        ("seen", 64.0, 0),
        ("accuracy", 0.5, 1),
        ("loss", 1.25, 1),
    ]
    assert all(type(value) is float for _, value, _ in metrics)
    assert logged["meta"]["project_name"] == "tfdl"
    assert sorted(logged["meta"]["tags"]) == ["lab1", "test"]
    assert logged["others"]["Name"] == "unit"


def test_archive_holds_figure_asset_and_text(run):
    logged = read_archive(run["tracker"].archive_path)
    by_type = {u["upload_type"]: u for u in logged["uploads"]}
    assert set(by_type) == {"visualization", "asset", "text-sample"}

    figure = by_type["visualization"]
    assert figure["additional_params"]["figName"] == "loss_curve"
    assert b"<svg" in logged["files"][figure["file_path"]]

    asset = by_type["asset"]
    assert asset["additional_params"]["fileName"] == "sample.abc"
    assert logged["files"][asset["file_path"]].decode() == ABC_TUNE

    text = by_type["text-sample"]
    assert text["metadata"] == {"epoch": 1}
    assert logged["files"][text["file_path"]].decode() == ABC_TUNE


def test_off_mode_is_a_silent_no_op_without_comet(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "comet_ml", None)  # any `import comet_ml` now fails
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with make_tracker("off", tmp_path) as tracker:
            tracker.log_parameters({"a": 1})
            tracker.log_metrics({"loss": tf.constant(1.0)}, step=0)
            tracker.log_text("hello")
            tracker.log_asset(tmp_path / "missing.txt")
    assert tracker.mode == "off" and not tracker.enabled
    assert tracker.end() is None and tracker.archive_path is None
    assert list(tmp_path.iterdir()) == []


def test_unknown_mode_raises_a_one_line_value_error():
    message = "unknown tracking mode 'foo'; choose one of off, offline, online"
    with pytest.raises(ValueError, match=re.escape(message)):
        Tracker("foo")


def test_resolve_mode_auto_depends_on_api_key(monkeypatch):
    assert resolve_mode(None, env={}) == "offline"
    assert resolve_mode(None, env={"COMET_API_KEY": "abc"}) == "online"
    assert resolve_mode("off", env={"COMET_API_KEY": "abc"}) == "off"
    monkeypatch.delenv("COMET_API_KEY", raising=False)
    assert resolve_mode(None) == "offline"


def test_auto_mode_without_key_is_offline_and_survives_missing_comet(tmp_path, monkeypatch):
    monkeypatch.delenv("COMET_API_KEY", raising=False)
    monkeypatch.setitem(sys.modules, "comet_ml", None)
    with pytest.warns(TrackingWarning, match="starting the experiment failed"):
        tracker = Tracker(offline_dir=tmp_path / "comet")
    assert tracker.mode == "offline" and not tracker.enabled


def test_unusable_offline_dir_warns_once_then_no_ops(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker = Tracker("offline", offline_dir=blocker / "comet")
        tracker.log_parameters({"a": 1})
        tracker.log_metrics({"loss": 1.0}, step=0)
        tracker.log_text("hello")
        assert tracker.end() is None
    [warning] = tracking_warnings(caught)
    assert "a_file" in str(warning.message)
    assert "\n" not in str(warning.message)
    assert not tracker.enabled and tracker.archive_path is None


def test_comet_error_while_logging_warns_once_and_keeps_earlier_data(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker = Tracker("offline", offline_dir=tmp_path)
        tracker.log_parameters({"units": 8})
        tracker.log_figure("broken", "not a figure")  # comet raises TypeError
        tracker.log_metrics({"loss": 1.0}, step=0)
        tracker.end()
    [warning] = tracking_warnings(caught)
    assert "log_figure failed" in str(warning.message)
    assert not tracker.enabled
    # the tracker ended the experiment on failure, so the archive has what came before
    assert read_archive(tracker.archive_path)["params"] == {"units": 8}

"""``tfdl music studio``: the real server with the shipped model, over HTTP and in Chromium.

The API tests talk to the server over a socket; the page tests drive Debian's
Chromium with Playwright (they skip, saying why, when either is missing). One
server, started in a thread on a free port, serves every test of this module.
"""

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tfdl.music.midi import read_midi_notes
from tfdl.music.studio.form import header_choices
from tfdl.music.studio.server import Studio, bind, make_app
from tfdl.music.vocab import Vocabulary

CHROMIUM = os.environ.get("TFDL_CHROMIUM", "/usr/bin/chromium")
# the shipped model's vocabulary: top_k's upper bound
SHIPPED_CHARS = len(Vocabulary.load(Path(__file__).parents[1] / "tfdl/pretrained/music/vocab.json"))
JIG = {"meter": "6/8", "key": "D", "seed": 7, "num_songs": 2, "length": 400}


@contextlib.contextmanager
def running(studio):
    """The studio's app served by uvicorn in a thread: yields ``(host, port)``."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(make_app(studio), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield sock.getsockname()[:2]
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    from tfdl.music.saved import pretrained_dir

    return Studio(pretrained_dir(), tmp_path_factory.mktemp("studio"))


@pytest.fixture(scope="module")
def server(studio):
    with running(studio) as host_port:
        yield host_port


def request(server, method, path, body=None, headers=None):
    """``(status, headers, body bytes)`` of one request; ``path`` is sent as given."""
    connection = http.client.HTTPConnection(*server, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post(server, body):
    """POST /api/generate with ``body`` (a dict, or raw bytes); ``(status, JSON answer)``."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, answer = request(
        server, "POST", "/api/generate", data, {"Content-Type": "application/json"}
    )
    return status, json.loads(answer)


# -- the JSON API ------------------------------------------------------------------------


def test_generate_answers_songs_in_the_meter_and_key_asked_with_their_files(server, studio):
    status, answer = post(server, JIG)
    assert status == 200, answer
    assert answer["seed"] == 7 and answer["model"] == "pretrained"
    form = {"type": "any", "parts": None, "bars_per_part": None}
    assert answer["settings"] == {**JIG, "temperature": 1.0, "top_k": None, "prime": "", **form}
    songs = answer["songs"]
    assert len(songs) == 2 and len({s["id"] for s in songs}) == 2
    for song in songs:
        assert song["abc"].startswith("X:1\nM:6/8\nL:1/8\nK:D\n")
        assert song["valid"] == (song["reason"] is None)
        status, _, text = request(server, "GET", song["abc_url"])
        assert status == 200 and text.decode() == song["abc"] + "\n"
    valid = [s for s in songs if s["valid"]]
    assert valid, [s["reason"] for s in songs]  # the shipped model writes good jigs
    status, headers, midi = request(server, "GET", valid[0]["midi_url"])
    assert status == 200 and headers["content-type"] == "audio/midi" and midi[:4] == b"MThd"
    if studio.synthesiser:
        status, headers, wav = request(server, "GET", valid[0]["wav_url"])
        assert status == 200 and wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    else:
        assert valid[0]["wav_url"] is None
    # the same seed and settings give the same songs
    assert [s["abc"] for s in post(server, JIG)[1]["songs"]] == [s["abc"] for s in songs]


def test_every_field_is_optional_and_no_seed_means_a_random_one(server):
    status, answer = post(server, {"length": 60})
    assert status == 200, answer
    assert 0 <= answer["seed"] < 2**31 and answer["settings"]["seed"] == answer["seed"]
    assert len(answer["songs"]) == 1 and answer["songs"][0]["abc"].startswith("X:1\n")


def test_a_prime_goes_after_the_header(server):
    body = {"meter": "6/8", "key": "D", "prime": "|:d2f a2f|", "length": 120, "seed": 3}
    status, answer = post(server, body)
    assert status == 200, answer
    assert answer["songs"][0]["abc"].startswith("X:1\nM:6/8\nL:1/8\nK:D\n|:d2f a2f|")


@pytest.mark.parametrize(
    "body, field, words",
    [
        (b"{not json", None, "the body is not JSON"),
        (b"\xff\xfe", None, "the body is not JSON"),
        (b"[1, 2]", None, "must be a JSON object, got list"),
        ({"tempo": 120}, None, "unknown field 'tempo'"),
        ({"num_songs": 17}, "num_songs", "between 1 and 16, got 17"),
        ({"num_songs": 0}, "num_songs", "between 1 and 16, got 0"),
        ({"num_songs": "2"}, "num_songs", "must be a whole number, got '2'"),
        ({"num_songs": True}, "num_songs", "must be a whole number"),
        ({"length": 5000}, "length", "between 1 and 2000, got 5000"),
        ({"length": 2.5}, "length", "must be a whole number"),
        ({"temperature": 0}, "temperature", "between 0.01 and 10, got 0"),
        ({"temperature": "hot"}, "temperature", "must be a number"),
        ({"top_k": 0}, "top_k", f"between 1 and {SHIPPED_CHARS}, got 0"),
        ({"seed": -1}, "seed", "between 0 and 2147483647"),
        ({"seed": [7]}, "seed", "must be a whole number or null"),
        ({"meter": "7/0"}, "meter", "no ABC meter"),
        ({"meter": "6/8\nK:D"}, "meter", "one short line"),
        ({"meter": 6}, "meter", "must be text"),
        ({"key": "Q"}, "key", "no ABC key"),
        ({"key": "D"}, "meter", "choose a meter to go with the key"),
        ({"meter": "6/8", "key": "D", "prime": "a€b\tc|"}, "prime", "'\\t', '€'"),
        ({"meter": "6/8", "key": "D", "prime": "abc"}, "prime", "end with a bar line"),
        ({"prime": "abc|"}, "prime", "choose a meter and a key too"),
        ({"meter": "6/8", "key": "D", "prime": 'd"Segno"e|'}, "prime", "prime has bad music"),
        ({"prime": "|" * 2001}, "prime", "at most 2000 characters"),
        ({"type": "hoedown"}, "type", "type must be one of jig, reel"),
        ({"parts": 0}, "parts", "between 1 and 8, got 0"),
        ({"type": "jig", "bars_per_part": 3}, "bars_per_part", "a part of a 6/8 tune"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(server, body, field, words):
    status, answer = post(server, body)
    assert status == 400, answer
    assert words in answer["error"] and "\n" not in answer["error"]
    assert answer.get("field") == field


def test_a_tune_type_gives_its_meter_and_form_and_each_song_names_its_form(server):
    status, body = request(server, "GET", "/api/model")[::2]
    types = {t["value"]: t for t in json.loads(body)["types"]}
    assert status == 200 and types["reel"]["meter"] == "C|" and "slip-jig" in types
    status, answer = post(server, {"type": "reel", "key": "D", "seed": 2, "num_songs": 2})
    assert status == 200, answer
    for song in answer["songs"]:
        assert song["abc"].startswith("X:1\nM:C|\nL:1/8\nK:D\n")
        assert song["form"] == "AABB, 8 + 8 bars, ends on D" and song["shape"] == [8, 8]


def test_huge_or_mislabelled_bodies_are_refused_and_the_server_goes_on(server):
    huge = json.dumps({"prime": "a" * 100_000}).encode()
    assert post(server, huge)[0] == 413
    status, _, answer = request(
        server, "POST", "/api/generate", b"{}", {"Content-Type": "text/plain"}
    )
    assert status == 415 and b"Content-Type: application/json" in answer
    assert request(server, "GET", "/api/generate")[0] == 405
    assert request(server, "GET", "/api/model")[0] == 200


def test_files_only_for_ids_the_server_made_never_outside_its_folder(server, studio):
    status, answer = post(server, {"meter": "6/8", "key": "D", "length": 60, "seed": 1})
    song_id = answer["songs"][0]["id"]
    (studio.folder.parent / "secret.abc").write_text("X:1\n")
    assert request(server, "GET", f"/files/{song_id}.abc")[0] == 200
    for path in [
        "/files/..%2Fsecret.abc",
        "/files/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/files/%2Fetc%2Fpasswd",
        "/files//etc/passwd",
        "/files/../secret.abc",
        f"/files/{song_id}%2F..%2F..%2Fsecret.abc",
        f"/files/{song_id}.abc%2F..%2F..%2Fsecret.abc",
        f"/files/{song_id}",
        f"/files/{song_id}.py",
        "/files/0123456789abcdef.abc",
        "/static/..%2Fserver.py",
        "/static/%2e%2e/%2e%2e/form.py",
        "/static/../../../etc/passwd",
    ]:
        status, _, body = request(server, "GET", path)
        assert status == 404, path
        assert json.loads(body)["error"]


def test_requests_to_another_host_name_are_refused(server):
    # DNS rebinding: a page on evil.example whose name now points at 127.0.0.1
    status, _, _ = request(server, "GET", "/api/model", headers={"Host": "evil.example"})
    assert status == 400


@pytest.mark.slow
def test_twenty_concurrent_requests_all_answered_and_the_page_served_meanwhile(server):
    done = []

    def one(seed):
        # 6/8: the meter the model keeps the form of with the fewest redraws, so that 20
        # songs queued one after another stay well inside a request's timeout on a busy
        # machine (3/4 timed out beside a training run)
        answer = post(server, {"meter": "6/8", "key": "G", "length": 300, "seed": seed})
        done.append(seed)
        return answer

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(one, seed) for seed in range(20)]
        time.sleep(0.5)  # the requests are queued; generation runs one at a time
        status, _, script = request(server, "GET", "/static/studio.js")
        served_while_busy = len(done) < 20
        answers = [f.result() for f in futures]
    assert status == 200 and b"checkForm" in script
    assert served_while_busy, "static files waited for generation"
    assert [status for status, _ in answers] == [200] * 20
    for seed, (_, answer) in enumerate(answers):
        assert answer["seed"] == seed and len(answer["songs"]) == 1
        assert answer["songs"][0]["abc"].startswith("X:1\nM:6/8\nL:1/8\nK:G\n")


def test_model_info_offers_the_corpus_meters_and_keys(server):
    status, _, body = request(server, "GET", "/api/model")
    info = json.loads(body)
    meters = [m["value"] for m in info["meters"]]
    assert meters[0] == "6/8" and {"2/4", "3/4", "9/8", "12/8", "3/2", "C|"} <= set(meters)
    keys = {k["label"]: k["value"] for k in info["keys"]}
    assert keys["D major"] == "D" and keys["A dorian"] in ("Ador", "A Dorian")
    assert info["choices_from"] == "3360 training tunes"
    assert info["limits"]["num_songs"] == [1, 16] and info["limits"]["length"] == [1, 2000]


def test_choices_without_the_training_tunes_are_common_ones_the_vocabulary_writes():
    vocab = Vocabulary.from_text("X:1\nM:6/8\nK:DAmi \n|abc")
    choices = header_choices(None, vocab)
    assert [m["value"] for m in choices["meters"]] == ["6/8"]
    assert {k["value"] for k in choices["keys"]} == {"D", "A", "Am", "Dm"}
    assert choices["from"] == "common choices" and choices["meters"][0]["tunes"] == 0


@pytest.mark.slow
def test_the_command_serves_the_page_until_interrupted(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    argv = [sys.executable, "-m", "tfdl.cli", "music", "studio", "--port", "0"]
    argv += ["--out", str(tmp_path / "songs")]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        line = process.stdout.readline().decode()  # printed once the model is loaded
        assert line.startswith("tfdl music studio: http://127.0.0.1:"), line
        host, port = line.split("http://")[1].split("/")[0].split(":")
        status, _, page = request((host, int(port)), "GET", "/")
        assert status == 200 and b'src="/static/vendor/abcjs-basic-min.js"' in page
        assert b"http" not in page.split(b"<body>")[0]  # nothing from the internet
        status, _, script = request((host, int(port)), "GET", "/static/vendor/abcjs-basic-min.js")
        assert status == 200 and len(script) > 400_000
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, process.stderr.read().decode()[-2000:]


def test_the_vendored_abcjs_is_the_pinned_release_with_its_licence():
    from tfdl.music.studio.vendor_abcjs import FILES, VENDOR

    stamp = json.loads((VENDOR / "abcjs.json").read_text())
    assert stamp["version"] == "6.7.2" and stamp["integrity"].startswith("sha512-")
    assert {p.name for p in VENDOR.iterdir()} == {*FILES.values(), "abcjs.json"}
    script = (VENDOR / "abcjs-basic-min.js").read_text(encoding="utf-8")
    assert f'"{stamp["version"]}"' in script  # abcjs keeps its version as a string
    assert "Permission is hereby granted" in (VENDOR / "LICENSE.md").read_text()


def test_a_port_in_use_is_one_line(capsys):
    from tfdl.cli import main

    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        assert main(["music", "studio", "--port", str(port)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"tfdl: error: cannot listen on 127.0.0.1:{port}")
    assert len(error.splitlines()) == 1


# -- hostile requests (issue #25) ---------------------------------------------------------

HEADER = {"meter": "4/4", "key": "C"}
# Each row of issue #25 as a studio request: (body, the status it must get). Rows 2
# (evaluate) and 12 (a 100 KB tune) have no studio form but a body over 64 KiB.
HOSTILE = [
    ({**HEADER, "prime": "|1-999999999|"}, 400),  # 1: an ending range as a set
    (json.dumps({"prime": "a" * 100_000}).encode(), 413),  # 2 and 12: a huge tune
    ({**HEADER, "prime": "Z999999999|"}, 400),  # 3: a rest of a billion bars
    ({"meter": "99999/1"}, 400),  # 4: music21's time signature set-up
    ({"meter": "1000/1", "key": "C"}, 400),
    ({**HEADER, "prime": "A99999999|"}, 400),  # 5: music21 lays out a huge note
    ({**HEADER, "prime": "B999999|"}, 400),
    ({**HEADER, "prime": "A" + "9" * 1990 + "|"}, 400),  # 6: too many digits for int()
    ({"meter": "4/" + "9" * 30}, 400),
    ({**HEADER, "prime": "(²AB|"}, 400),  # 7 and 8: digits ABC does not know
    ({**HEADER, "prime": "[²AB|"}, 400),
    ({**HEADER, "prime": "CDEF GABc|\nQ:0/4=120\nCDEF GABc|"}, 400),  # 9: a zero beat
    (b"[" * 30000 + b"]" * 30000, 400),  # 10: json.loads recursion
    (b'{"temperature": 1' + b"0" * 400 + b"}", 400),  # 11: float() overflows
    (b'{"seed": 1' + b"0" * 400 + b"}", 400),
    (b'{"temperature": 1e400}', 400),  # json reads it as infinity
    ({**HEADER, "prime": "|:" + "(3:2:9999abc " * 100 + ":|"}, 400),  # a mutated prime
]


def test_a_generation_past_the_time_limit_is_a_503_and_frees_the_slot(server, studio):
    usual = studio.time_limit
    studio.time_limit = 0.001  # every generation runs past it: its first chunk is later
    try:
        status, answer = post(server, JIG)
    finally:
        studio.time_limit = usual
    assert status == 503, answer
    assert answer["error"].startswith("the generation ran past the studio's limit of 0.001 s")
    # the 503 came once the generation had stopped (the server awaits its thread), so
    # the slot serves the next request
    status, answer = post(server, {**JIG, "num_songs": 1, "length": 60})
    assert status == 200 and len(answer["songs"]) == 1


def _rss(process):
    """Resident memory of ``process`` and its children, bytes."""
    import psutil

    total = 0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


@pytest.mark.slow
def test_hostile_requests_get_4xx_or_503_and_the_server_keeps_serving(tmp_path):
    import psutil

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    argv = [sys.executable, "-m", "tfdl.cli", "music", "studio", "--port", "0"]
    argv += ["--out", str(tmp_path / "songs"), "--time-limit", "3"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    watched = psutil.Process(process.pid)
    latencies, peaks, stop = [], [], threading.Event()
    try:
        line = process.stdout.readline().decode()  # printed once the model is loaded
        assert line.startswith("tfdl music studio: http://127.0.0.1:"), line
        host, port = line.split("http://")[1].split("/")[0].split(":")
        server = (host, int(port))

        def watch():  # /api/model's answer time and the server's memory, all along
            while not stop.is_set():
                started = time.monotonic()
                status, _, _ = request(server, "GET", "/api/model")
                latencies.append((time.monotonic() - started, status))
                peaks.append(_rss(watched))
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        for body, expected in HOSTILE:
            status, answer = post(server, body)
            assert status == expected, (body[:80], answer)
            assert "\n" not in answer["error"] and len(answer["error"]) < 300, answer
            assert process.poll() is None, "the server died"
        # the most a request may ask (past the limit of 3 s here, mostly: see the next test)
        slow = {"num_songs": 16, "length": 2000, "temperature": 10, **HEADER}
        status, answer = post(server, slow)
        assert status == 200 or (status == 503 and "limit of 3 s" in answer["error"]), answer
        status, answer = post(server, {"meter": "6/8", "key": "D", "length": 60, "seed": 1})
        assert status == 200 and answer["songs"][0]["abc"].startswith("X:1\nM:6/8\n"), answer
        stop.set()
        watcher.join(10)
    finally:
        stop.set()
        process.send_signal(signal.SIGINT)
        process.wait(60)
    # /api/model answered all along, beside the generations (its latency is printed,
    # not asserted: it depends on the machine's load)
    assert latencies and all(status == 200 for _, status in latencies)
    slowest = max(seconds for seconds, _ in latencies)
    print(f"/api/model: {len(latencies)} answers, slowest {slowest:.3f} s; "
          f"server RSS peak {max(peaks) / 2**20:.0f} MiB")  # fmt: skip
    assert max(peaks) < 1.5 * 2**30, f"the server reached {max(peaks) / 2**30:.2f} GiB"


# -- the page in a real browser ----------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(
        base_url=address_of(server), accept_downloads=True, viewport={"width": 1100, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()


def address_of(server):
    host, port = server
    return f"http://{host}:{port}/"


def keep_artefact(path):
    """Copy a test artefact to ``$TFDL_ARTIFACTS`` when it is set (CI keeps it)."""
    folder = os.environ.get("TFDL_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder)


def test_page_composes_two_jigs_in_d_shows_them_plays_them_and_downloads_midi(
    page, studio, tmp_path
):
    page.select_option("#meter", "6/8")
    page.select_option("#key", "D")
    page.fill("#num_songs", "2")
    page.fill("#length", "400")
    page.uncheck("#random-seed")
    page.fill("#seed", "7")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('.song .score svg').length === 2")

    abc = page.locator(".song pre").all_text_contents()
    assert len(abc) == 2
    assert all("M:6/8" in text.splitlines() and "K:D" in text.splitlines() for text in abc)
    badges = page.locator(".song .badge").all_text_contents()
    assert all(b.startswith(("valid: ", "invalid: ")) for b in badges), badges
    assert page.locator("#history tbody tr").count() == 2
    assert "seed 7" in page.text_content("#status")

    screenshot = tmp_path / "studio.png"
    page.screenshot(path=screenshot, full_page=True)
    keep_artefact(screenshot)

    valid = page.locator(".song[data-valid=true]")
    assert valid.count() >= 1, badges
    with page.expect_download() as download:
        valid.first.locator("a.download-mid").click()
    midi = tmp_path / download.value.suggested_filename
    download.value.save_as(midi)
    assert midi.name.startswith("tfdl-seed7-song") and midi.suffix == ".mid"
    assert len(read_midi_notes(midi)) > 8

    if studio.synthesiser:  # WAV made on the server, in an <audio> element
        src = valid.first.locator("audio").get_attribute("src")
        wav = page.request.get(src)
        assert wav.ok and wav.body()[:4] == b"RIFF"
        assert "WAV files made by" in page.text_content("#playback-note")
    else:  # abcjs's synth, with a note on its soundfont
        assert valid.first.locator("button.play").count() == 1
        assert "soundfont" in page.text_content("#playback-note")

    # a history row makes the same songs again
    page.locator("#history button.regenerate").last.click()
    page.wait_for_function("document.querySelectorAll('#history tbody tr').length === 4")
    page.wait_for_function("document.querySelectorAll('.song .score svg').length === 2")
    assert page.locator(".song pre").all_text_contents() == abc


def test_page_names_each_bad_field_and_the_unknown_characters(page):
    page.fill("#temperature", "0")
    page.fill("#prime", "d€f a2f|")
    page.fill("#num_songs", "17")
    page.click("#generate")
    assert page.text_content("#error-temperature") == (
        "temperature must be between 0.01 and 10, got 0"
    )
    assert page.text_content("#error-prime") == (
        "prime has characters the model does not know: '€'"
    )
    assert page.text_content("#error-num_songs") == "num_songs must be between 1 and 16, got 17"
    assert page.locator(".song").count() == 0

    # what only the server can tell is shown next to its field too
    page.fill("#temperature", "1")
    page.fill("#num_songs", "1")
    page.fill("#prime", 'd"Segno"e|')
    page.click("#generate")
    page.wait_for_function("document.getElementById('error-prime').textContent !== ''")
    assert page.text_content("#error-prime").startswith("prime has bad music: bar 1")
    assert page.text_content("#error-temperature") == ""
    assert "Traceback" not in page.content()


def test_page_without_a_synthesiser_offers_abcjs_and_says_what_to_install(
    browser, server, studio, monkeypatch
):
    monkeypatch.setattr(studio, "synthesiser", None)  # as on a machine without FluidSynth
    context = browser.new_context(base_url=address_of(server))
    # no internet, as on the machines tfdl runs on: abcjs cannot fetch its soundfont
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    assert "needs a soundfont" in page.text_content("#playback-note")
    page.fill("#num_songs", "1")
    page.uncheck("#random-seed")
    page.fill("#seed", "7")
    page.click("#generate")
    page.wait_for_selector(".song .score svg")
    assert page.locator(".song audio").count() == 0
    assert page.locator(".song a.download-wav").count() == 0
    page.click(".song button.play")
    page.wait_for_function("document.getElementById('error-form').textContent !== ''")
    assert "could not load its soundfont" in page.text_content("#error-form")
    assert "apt-get install fluidsynth" in page.text_content("#error-form")

    # a browser with no Web Audio either: one line says what to install
    silent = context.new_page()
    silent.add_init_script("delete window.AudioContext; delete window.webkitAudioContext;")
    silent.goto("/")
    silent.wait_for_selector("body[data-ready=true]")
    note = silent.text_content("#playback-note")
    assert note.startswith("No playback") and "apt-get install fluidsynth" in note
    context.close()


def test_page_composes_a_reel_by_type_names_its_form_and_draws_a_new_b_part(page):
    page.select_option("#meter", "")  # the type's meter
    page.select_option("#type", "reel")
    page.select_option("#key", "D")
    page.fill("#num_songs", "1")
    page.uncheck("#random-seed")
    page.fill("#seed", "2")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('.song .score svg').length === 1")
    abc = page.locator(".song pre").text_content()
    assert "M:C|" in abc.splitlines() and "K:D" in abc.splitlines()
    assert page.locator(".song .form-badge").text_content() == "AABB, 8 + 8 bars, ends on D"

    # "new B part": the first part is kept, the rest is drawn again with a new seed
    first_lines = abc.split("\nK:D\n")[1]
    page.locator(".song button.new-part").click()
    page.wait_for_function(
        "document.querySelector('.song pre') && "
        f"document.querySelector('.song pre').textContent !== {json.dumps(abc)}"
    )
    again = page.locator(".song pre").text_content()
    body = again.split("\nK:D\n")[1]
    prime = page.input_value("#prime")
    assert prime and first_lines.startswith(prime) and body.startswith(prime)
    assert body != first_lines
    assert page.locator(".song .form-badge").text_content().startswith("AABB, 8 + 8 bars")


def test_the_page_loads_with_no_console_error_and_asks_for_no_favicon(browser, server):
    context = browser.new_context(base_url=address_of(server))
    page = context.new_page()
    errors, asked = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: asked.append(r.url))
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_timeout(500)  # a favicon request comes after the load
    context.close()
    assert errors == []
    assert not [url for url in asked if "favicon" in url], asked

"""The studio's web server: one model loaded once, its songs on disk, a Starlette app.

Requests (the JSON API is documented in the README):

- ``GET /``: the page; ``GET /static/...``: its scripts, styles and the vendored abcjs;
- ``GET /api/model``: the model, the meters and keys it offers, the limits, playback;
- ``POST /api/generate``: songs, checked (`tfdl.music.songs.check_song`), as JSON;
- ``GET /files/ID.abc|.mid|.wav``: a song's files. Only ids this server made are
  served, each from its own folder: any other name (``..``, an absolute path, an
  encoded slash) is a 404 and reads nothing.

Generation runs in a worker thread, one request at a time: a TensorFlow model and
music21's parser (which `check_song` runs, and which redirects ``sys.stderr`` while
it parses) are not safe to run from two threads at once. Requests that wait for
their turn wait on the event loop, not in a thread, so the page, its files and
``/api/model`` keep being served while songs are made.
"""

import secrets
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tfdl.errors import UserError
from tfdl.music.export import WAV_INSTALL, MissingToolError, find_synthesiser, midi_to_wav
from tfdl.music.form import first_part, read_form
from tfdl.music.generate import PastDeadline
from tfdl.music.grammar import TUNE_TYPES
from tfdl.music.songs import check_song, error_line
from tfdl.music.studio.form import (
    DEFAULT_LENGTH,
    MAX_LENGTH,
    MAX_SEED,
    MAX_SONGS,
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    FormError,
    header_choices,
    parse_body,
    parse_request,
)


def _tune_types():
    """``[{"value", "meter", "parts", "bars_per_part"}]``: the tune types the form offers."""
    return [
        {"value": name, "meter": t.meter, "parts": t.parts, "bars_per_part": t.bars_per_part}
        for name, t in TUNE_TYPES.items()
    ]


STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 64 * 1024  # bytes: a request is a few short fields and a prime of 2,000 characters
# Generate requests that may wait for their turn; more get a 503 (each waits for all
# before it: 64 requests of 16 songs would be minutes of work queued).
MAX_WAITING = 64
# Seconds one generation may take, its song checks included: 16 songs of 2,000
# characters take about a minute on 2 CPU cores. Sampling stops at its next chunk
# past the limit and checking at its next song; one song's check takes at most a
# few seconds (tfdl.music.limits bounds what music21 reads).
TIME_LIMIT = 120.0
MEDIA_TYPES = {"abc": "text/vnd.abc; charset=utf-8", "mid": "audio/midi", "wav": "audio/wav"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Studio:
    """A music model, loaded once, and the songs made with it, kept in ``folder``.

    `generate` and `file_path` do the work of the web requests; `generate` must run
    one call at a time (the app sees to it).
    """

    def __init__(self, model_dir, folder, warm_up=True, time_limit=TIME_LIMIT):
        from tfdl.music.generate import SongSampler
        from tfdl.music.report import model_tunes
        from tfdl.music.saved import load_music_model, pretrained_dir

        self.model_dir = Path(model_dir).resolve()
        self.time_limit = float(time_limit)
        self.model, self.vocab, self.settings = load_music_model(self.model_dir)
        try:
            pretrained = pretrained_dir()
        except FileNotFoundError:  # a tfdl without its pretrained model
            pretrained = None
        self.name = "pretrained" if self.model_dir == pretrained else str(self.model_dir)
        self.sampler = SongSampler(self.model, self.vocab)
        try:
            tunes = model_tunes(self.settings, split="all")
        except (ValueError, OSError):  # the training data moved: offer common choices
            tunes = None
        self.choices = header_choices(tunes, self.vocab)
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.songs = {}  # id -> True if the song is valid (it has a MIDI file)
        try:
            self.synthesiser = find_synthesiser()
        except MissingToolError:
            self.synthesiser = None
        if warm_up:
            self._warm_up()

    def _warm_up(self):
        """Trace the sampler and import music21 now, not on the first click.

        The sampler's start is traced again for each new input shape (songs, prime
        length) until TensorFlow has seen two, then one trace serves all: two calls
        of different shapes here save ~1.5 s on the first click of 8 songs (measured).
        """
        meters, keys = self.choices["meters"], self.choices["keys"]
        header = {"meter": meters[0]["value"], "key": keys[0]["value"]} if meters and keys else {}
        for num_songs, prime in ((1, ""), (2, "|" if header else "")):
            body = {**header, "num_songs": num_songs, "length": 40, "prime": prime}
            request = parse_request(body, self.vocab)
            self.sampler.sample(num_songs, request.length, seed=0, prime=request.prime_text())
        check_song("X:1\nM:4/4\nL:1/8\nK:C\nCDEF GABc|cBAG FEDC|CDEF GABc|cBAG FEDC|]")

    def info(self):
        """What ``GET /api/model`` answers: everything the page's form needs."""
        return {
            "model": self.name,
            "rnn_units": self.settings.get("rnn_units"),
            "val_loss": self.settings.get("val_loss"),
            "vocab": "".join(self.vocab.chars),
            "meters": self.choices["meters"],
            "keys": self.choices["keys"],
            "choices_from": self.choices["from"],
            "types": _tune_types(),
            "limits": {
                "num_songs": [1, MAX_SONGS],
                "length": [1, MAX_LENGTH],
                "temperature": [MIN_TEMPERATURE, MAX_TEMPERATURE],
                "top_k": [1, len(self.vocab)],
                "seed": [0, MAX_SEED],
            },
            "time_limit": self.time_limit,
            "default_length": DEFAULT_LENGTH,
            "playback": {
                "wav": self.synthesiser is not None,
                "synthesiser": self.synthesiser.name if self.synthesiser else None,
                "install": WAV_INSTALL,
            },
        }

    def generate(self, request):
        """Songs for a `GenerateRequest`: the JSON answer of ``POST /api/generate``.

        Raises `PastDeadline` when sampling or checking runs past `time_limit` seconds.
        """
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        started = time.perf_counter()
        deadline = time.monotonic() + self.time_limit
        try:
            texts = self.sampler.sample(
                request.num_songs,
                request.length,
                request.temperature,
                request.top_k,
                seed,
                request.prime_text(),
                type=request.type,
                parts=request.parts,
                bars_per_part=request.bars_per_part,
                deadline=deadline,
            )
        except ValueError as e:  # every field but the prime's music is checked already
            raise FormError("prime", str(e)) from None
        songs = []
        for n, text in enumerate(texts):
            if time.monotonic() > deadline:
                raise PastDeadline(f"{len(texts) - n} of {len(texts)} songs unchecked")
            songs.append(self._keep(text))
        return {
            "seed": seed,
            "model": self.name,
            "settings": {**request.to_json(), "seed": seed},
            "seconds": round(time.perf_counter() - started, 3),
            "songs": songs,
        }

    def _keep(self, text):
        """Check one song, write its files, and describe it for the page."""
        song_id = secrets.token_hex(8)
        check = check_song(text, midi_path=self.folder / f"{song_id}.mid")
        (self.folder / f"{song_id}.abc").write_text(check.song + "\n", encoding="utf-8")
        self.songs[song_id] = check.valid
        url = f"/files/{song_id}"
        form = read_form(check.song)
        return {
            "id": song_id,
            "abc": check.song,
            "valid": check.valid,
            "reason": check.reason,
            "bars": check.bars,
            "notes": check.notes,
            "form": form.describe(),
            "shape": list(form.shape),
            "ends_on_tonic": form.ends_on_tonic,
            "first_part": first_part(check.song) if len(form.sections) > 1 else None,
            "abc_url": f"{url}.abc",
            "midi_url": f"{url}.mid" if check.valid else None,
            "wav_url": f"{url}.wav" if check.valid and self.synthesiser else None,
        }

    def file_path(self, name):
        """The file ``/files/NAME`` serves, or None.

        ``NAME`` is ``ID.abc``, ``ID.mid`` or ``ID.wav`` with an id this studio made;
        the path is built from that id, never from the name, so no name reaches
        outside `folder`. A WAV is rendered the first time it is asked for.
        """
        song_id, _, suffix = name.partition(".")
        valid = self.songs.get(song_id)
        if valid is None or suffix not in MEDIA_TYPES or (suffix != "abc" and not valid):
            return None
        path = self.folder / f"{song_id}.{suffix}"
        if suffix == "wav" and not path.is_file():
            if self.synthesiser is None:
                return None
            # render beside it, then rename: two requests at once never see half a file
            partial = self.folder / f"{song_id}.{secrets.token_hex(4)}.partial.wav"
            midi_to_wav(self.folder / f"{song_id}.mid", partial, self.synthesiser)
            partial.replace(path)
        return path


def _error(status, message, field=None):
    body = {"error": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


async def _read_json(request):
    """The parsed JSON body, or an error response (too big, not JSON)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        # also what keeps other web sites out: a cross-site JSON post needs CORS, which
        # this server never grants
        return _error(415, "send the body as JSON, with Content-Type: application/json")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _error(413, f"the body must be at most {MAX_BODY // 1024} KiB")
    try:
        return parse_body(body)
    except FormError as e:
        return _error(400, str(e))


def make_app(studio, host="127.0.0.1"):
    """The Starlette app serving ``studio``; ``host`` is the address it is bound to."""
    turn = anyio.CapacityLimiter(1)  # one generation at a time, waiting on the event loop
    waiting = 0

    async def index(request):
        return FileResponse(STATIC / "index.html")

    async def model(request):
        return JSONResponse(studio.info())

    async def generate(request):
        nonlocal waiting
        body = await _read_json(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            parsed = parse_request(body, studio.vocab)
        except FormError as e:
            return _error(400, str(e), e.field)
        if waiting >= MAX_WAITING:
            return _error(503, f"the studio is busy ({waiting} requests wait): try again soon")
        waiting += 1
        try:
            answer = await anyio.to_thread.run_sync(studio.generate, parsed, limiter=turn)
        except FormError as e:
            return _error(400, str(e), e.field)
        except PastDeadline:  # the slot is free again: the generation has stopped
            limit = f"{studio.time_limit:g} s"
            return _error(503, f"the generation ran past the studio's limit of {limit}: ask for "
                          "fewer or shorter songs")  # fmt: skip
        finally:
            waiting -= 1
        return JSONResponse(answer)

    async def files(request):
        name = request.path_params["name"]
        try:
            path = await anyio.to_thread.run_sync(studio.file_path, name)
        except RuntimeError as e:  # the synthesiser failed on this song
            return _error(500, f"no WAV: {e}")
        if path is None:
            return _error(404, f"no file {name[:80]!r}")
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]])

    async def not_found(request, exc):
        return _error(exc.status_code, exc.detail)

    async def crashed(request, exc):
        traceback.print_exception(exc, file=sys.stderr)  # for the terminal, not the page
        return _error(500, f"the studio failed: {error_line(exc)}")

    middleware = []
    if host in LOOPBACK:
        # a page on another site could point a name of its own at 127.0.0.1 (DNS
        # rebinding): answer only requests addressed to this machine by name or number
        allowed = ["127.0.0.1", "localhost", "[::1]"]
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed))
    routes = [
        Route("/", index),
        Route("/api/model", model),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/files/{name}", files),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {HTTPException: not_found, Exception: crashed}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)


def bind(host, port):
    """A listening socket on ``host:port`` (port 0: any free port); a `UserError` when
    the address is taken or the host unknown."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def address(sock):
    """``http://host:port/`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(model_dir, host="127.0.0.1", port=8000, out=None, time_limit=TIME_LIMIT):
    """Run the studio until Ctrl-C: load the model, print the address, serve.

    Song files go to ``out``, or to a temporary folder deleted at the end; one
    generation may take ``time_limit`` seconds (then its request gets a 503).
    """
    import uvicorn

    sock = bind(host, port)  # before loading the model: a port in use fails at once
    with tempfile.TemporaryDirectory(prefix="tfdl-studio-") as tmp:
        studio = Studio(model_dir, out if out is not None else tmp, time_limit=time_limit)
        print(f"tfdl music studio: {address(sock)} (model: {studio.name})", flush=True)
        print("  Ctrl-C stops it; song files are in", studio.folder, flush=True)
        config = uvicorn.Config(make_app(studio, host), log_level="warning")
        try:
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn raises Ctrl-C again once it has shut down
            pass
    print("tfdl music studio: stopped", flush=True)
    return 0

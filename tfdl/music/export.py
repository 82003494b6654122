"""Songs out: ABC to MIDI, WAV and SVG sheet music, many songs at once across processes.

- MIDI with music21 (see `tfdl.music.midi`): no external program needed.
- WAV with FluidSynth and a General MIDI soundfont, else TiMidity.
- SVG sheet music with abcm2ps.

A missing program raises `MissingToolError` with one line saying what to install,
before any song is converted. Every song is checked first (`tfdl.music.songs.check_song`);
an invalid one gets no files, only its reason.

Checking a song and writing its MIDI takes ~0.05 s of Python (music21's parse, mostly),
so `export_songs` spreads many songs over processes. On Linux the workers are forked:
they start at once, with music21 already imported (a spawned worker would first
re-import tfdl, and with it TensorFlow, for several seconds). Workers never touch
TensorFlow, which is what makes forking a process that has TensorFlow threads safe.
Elsewhere workers are spawned and import music21 once each.
"""

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tfdl.errors import UserError
from tfdl.music.songs import check_song, error_line, parse_song, split_songs

# Where Debian's soundfont packages put a General MIDI soundfont (default-GM.sf2 is the
# alternatives link to whichever is installed), then other distributions' places.
SOUNDFONTS = (
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
)
SAMPLE_RATE = 22050  # Hz: plenty for a melody, half the size of CD quality
TOOL_TIMEOUT = 120  # seconds for one song in one external program
# Starting and stopping a pool costs as much as checking and writing MIDI for about 16
# songs (bench/export_bench.py measures both): below that a process costs more than it
# saves.
SONGS_PER_PROCESS = 16

# TimGM6mb (6 MB) rather than fluid-soundfont-gm (145 MB): the same 128 General MIDI
# instruments, sampled more coarsely; with FluidSynth a 9 MB download, not 123 MB.
WAV_INSTALL = (
    "install FluidSynth and a General MIDI soundfont, or TiMidity "
    "(Debian: apt-get install fluidsynth timgm6mb-soundfont)"
)
SHEET_INSTALL = "install abcm2ps (Debian: apt-get install abcm2ps)"


class MissingToolError(UserError, RuntimeError):
    """A program needed for WAV or SVG is not installed; the message says what to install."""


@dataclass(frozen=True)
class Synthesiser:
    """A program that renders MIDI as WAV: ``command(midi, wav)`` is its argument list."""

    name: str
    program: str
    soundfont: str | None = None

    def command(self, midi_path, wav_path):
        if self.name == "fluidsynth":
            # -n no MIDI input, -i no shell, -q quiet, -F render to a file, not a sound card
            return [self.program, "-niq", "-F", str(wav_path), "-r", str(SAMPLE_RATE),
                    self.soundfont, str(midi_path)]  # fmt: skip
        # timidity: -idqq no interface, quiet; -Ow RIFF WAVE; -x a soundfont if there is
        # one (Debian's timidity.cfg points at fluid-soundfont-gm, which may be missing)
        font = ["-x", f"soundfont {self.soundfont}"] if self.soundfont else []
        return [self.program, "-idqq", *font, "-Ow", "-s", str(SAMPLE_RATE),
                "-o", str(wav_path), str(midi_path)]  # fmt: skip


def find_soundfont():
    """A General MIDI soundfont: ``$TFDL_SOUNDFONT`` if set, else the first of `SOUNDFONTS`."""
    for path in (os.environ.get("TFDL_SOUNDFONT"), *SOUNDFONTS):
        if path and Path(path).is_file():
            return path
    return None


def find_synthesiser():
    """FluidSynth with a soundfont, else TiMidity; raises `MissingToolError` if neither."""
    fluidsynth, soundfont = shutil.which("fluidsynth"), find_soundfont()
    if fluidsynth and soundfont:
        return Synthesiser("fluidsynth", fluidsynth, soundfont)
    timidity = shutil.which("timidity")
    if timidity:
        return Synthesiser("timidity", timidity, soundfont)
    found = "FluidSynth has no soundfont: " if fluidsynth else "no synthesiser for WAV: "
    raise MissingToolError(found + WAV_INSTALL)


def find_abcm2ps():
    """The abcm2ps program; raises `MissingToolError` if it is not installed."""
    program = shutil.which("abcm2ps")
    if program is None:
        raise MissingToolError(f"no abcm2ps for sheet music: {SHEET_INSTALL}")
    return program


def _run(command, what, cwd=None, check=True):
    """Run an external program; returns the CompletedProcess. A timeout, or (with
    ``check``) a non-zero exit, is a RuntimeError naming the program, in one line."""
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} took more than {TOOL_TIMEOUT} s") from None
    if check and done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {last[:120]}")
    return done


def abc_to_midi(abc_text, path):
    """Parse one tune with music21 and write it as a MIDI file at ``path``.

    Unlike `export_songs` this does not check the song (no header, length or read-back
    layers): it raises `UserError` (a ValueError) naming the reason only when the tune
    is beyond `tfdl.music.limits`, music21 cannot parse it or finds no notes in it.
    """
    from tfdl.music.limits import tune_problem
    from tfdl.music.midi import score_notes, score_tempo, write_midi

    beyond = tune_problem(abc_text)  # Q:0/4=120, B999999: before music21 reads it
    if beyond:
        raise UserError(f"it is beyond tfdl's limits: {beyond}")
    try:
        score = parse_song(abc_text)
    except Exception as e:  # music21 raises many exception types for bad ABC
        raise UserError(f"music21 cannot parse it ({error_line(e)})") from None
    events = score_notes(score, abc_text)
    if not events:
        raise UserError("it has no notes")
    return write_midi(events, path, score_tempo(score))


def midi_to_wav(midi_path, wav_path, synthesiser=None):
    """Render a MIDI file as WAV with `find_synthesiser` (or the one given)."""
    synthesiser = synthesiser or find_synthesiser()
    _run(synthesiser.command(midi_path, wav_path), synthesiser.name)
    if not Path(wav_path).is_file():
        raise RuntimeError(f"{synthesiser.name} wrote no file")
    return Path(wav_path)


def abc_to_svg(abc_text, svg_path, abcm2ps=None):
    """Engrave one tune as SVG sheet music with abcm2ps; returns ``svg_path``.

    abcm2ps exits with status 1 when it met errors it worked around (a tie it
    cannot draw), and still writes the sheet; only a missing SVG is a failure.
    """
    abcm2ps = abcm2ps or find_abcm2ps()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "song.abc").write_text(abc_text + "\n", encoding="utf-8")
        # -g: SVG, one tune per file, named after -O plus a number: sheet001.svg
        done = _run([abcm2ps, "-g", "-O", "sheet.svg", "song.abc"], "abcm2ps", tmp, check=False)
        pages = sorted(Path(tmp).glob("sheet*.svg"))
        if not pages:
            last = (done.stderr.strip() or "no output").splitlines()[-1]
            raise RuntimeError(f"abcm2ps wrote no SVG (exit {done.returncode}): {last[:120]}")
        shutil.move(str(pages[0]), svg_path)
    return Path(svg_path)


@dataclass
class SongResult:
    """One song exported: ``reason`` is None exactly when ``valid``.

    ``files`` lists the paths written; ``errors`` says which requested file of a
    valid song could not be made, and why (e.g. the synthesiser failed).
    """

    name: str
    valid: bool
    reason: str | None
    files: list[str] = field(default_factory=list)
    bars: int = 0
    notes: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    name: str
    text: str
    stem: Path  # output path without suffix
    write_abc: bool


@dataclass(frozen=True)
class _Options:
    midi: bool
    synthesiser: Synthesiser | None
    abcm2ps: str | None
    min_bars: int
    min_notes: int


def _export_one(job, options):
    """Check one song and write its files: runs in a worker process."""
    stem = job.stem
    path = {
        suffix: stem.parent / f"{stem.name}{suffix}" for suffix in (".abc", ".mid", ".wav", ".svg")
    }
    with tempfile.TemporaryDirectory() as tmp:
        midi_path = path[".mid"] if options.midi else Path(tmp) / "song.mid"
        check = check_song(job.text, options.min_bars, options.min_notes, midi_path=midi_path)
        result = SongResult(job.name, check.valid, check.reason, [], check.bars, check.notes)
        if job.write_abc:
            path[".abc"].write_text(check.song + "\n", encoding="utf-8")
            result.files.append(str(path[".abc"]))
        if not check.valid:
            return result
        if options.midi:
            result.files.append(str(midi_path))
        if options.synthesiser:
            _make(result, "wav", midi_to_wav, midi_path, path[".wav"], options.synthesiser)
        if options.abcm2ps:
            _make(result, "svg", abc_to_svg, check.song, path[".svg"], options.abcm2ps)
    return result


def _make(result, what, make, *args):
    """Make one file of a valid song; a failure goes to ``result.errors``, not up."""
    try:
        result.files.append(str(make(*args)))
    except Exception as e:  # a synthesiser or abcm2ps failing on one song stops nothing
        result.errors.append(f"{what}: {error_line(e)}")


def _init_worker():
    import warnings

    import music21  # noqa: F401  (once per worker; forked workers already have it)

    warnings.simplefilter("ignore")  # music21 warns about much it then handles


def _export_job(args):
    return _export_one(*args)


def default_processes():
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def map_songs(function, items, processes=None):
    """``[function(item) for item in items]``, spread over ``processes`` processes.

    ``function`` must be a module-level function (workers may be spawned). None uses
    every CPU, but only as many processes as there are `SONGS_PER_PROCESS` songs; one
    process runs here, without a pool.
    """
    items = list(items)
    if processes is None:
        processes = min(default_processes(), len(items) // SONGS_PER_PROCESS)
    processes = min(processes, len(items))
    if processes <= 1:
        return [function(item) for item in items]
    import music21  # noqa: F401  (imported before forking: workers inherit it)

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with ProcessPoolExecutor(
        processes, mp_context=multiprocessing.get_context(method), initializer=_init_worker
    ) as pool:
        return list(pool.map(function, items))


def _jobs(songs_or_paths, out_dir, names):
    """One `_Job` per song: a str is one song's ABC text, a path a file of songs."""
    jobs = []
    for n, item in enumerate(songs_or_paths):
        if isinstance(item, str):
            if out_dir is None:
                raise ValueError("out_dir is needed to export songs given as text")
            name = names[n] if names is not None else f"song_{n + 1:03d}"
            jobs.append(_Job(name, item, Path(out_dir) / name, True))
            continue
        path = Path(item)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise UserError(f"{path}: cannot read ({e.strerror})") from None
        songs = split_songs(text)
        target = Path(out_dir) if out_dir is not None else path.parent
        for k, song in enumerate(songs, 1):
            name = path.stem if len(songs) == 1 else f"{path.stem}_{k:02d}"
            jobs.append(_Job(name, song, target / name, False))
    stems = [job.stem for job in jobs]
    duplicates = sorted({str(s) for s in stems if stems.count(s) > 1})
    if duplicates:
        raise UserError(f"two songs would be written to {duplicates[0]}: rename one")
    return jobs


def export_songs(
    songs_or_paths,
    out_dir=None,
    *,
    midi=True,
    wav=False,
    sheet=False,
    processes=None,
    names=None,
    min_bars=4,
    min_notes=8,
):
    """Check songs and write MIDI, WAV and SVG files for the valid ones, in parallel.

    Args:
        songs_or_paths: a list of songs, each the ABC text of one song (a ``str``),
            or paths (``pathlib.Path``) of ABC files, each split into songs with
            `tfdl.music.songs.split_songs`.
        out_dir: where files go; None puts them next to each input file (text songs
            need an ``out_dir``). A text song also gets its repaired ``NAME.abc``.
        midi, wav, sheet: write ``NAME.mid``, ``NAME.wav``, ``NAME.svg``.
        processes: worker processes; None uses every CPU this process may use, as
            long as each gets `SONGS_PER_PROCESS` songs (a handful run here, at once).
        names: file names (without suffix) for text songs; default ``song_001``...
            A file's songs are named after it: ``tune`` or ``tune_01``, ``tune_02``...
        min_bars, min_notes: see `tfdl.music.songs.check_song`.

    Returns one `SongResult` per song, in order. Raises `MissingToolError` (before
    converting anything) when ``wav`` or ``sheet`` needs a program that is missing.
    """
    songs_or_paths = list(songs_or_paths)
    if names is not None and len(names) != len(songs_or_paths):
        raise ValueError(f"got {len(names)} names for {len(songs_or_paths)} songs")
    options = _Options(
        midi=midi,
        synthesiser=find_synthesiser() if wav else None,
        abcm2ps=find_abcm2ps() if sheet else None,
        min_bars=min_bars,
        min_notes=min_notes,
    )
    jobs = _jobs(songs_or_paths, out_dir, names)
    for directory in {job.stem.parent for job in jobs}:
        directory.mkdir(parents=True, exist_ok=True)
    return map_songs(_export_job, [(job, options) for job in jobs], processes)


def check_songs(songs, processes=None, min_bars=4, min_notes=8):
    """`check_song` on every song, in parallel: a list of `SongCheck`, in order."""
    return map_songs(_check_job, [(song, min_bars, min_notes) for song in songs], processes)


def _check_job(args):
    return check_song(*args)

"""ABC notation: split files into tunes, normalise them, load and split a corpus.

A tune starts at an ``X:`` line. Its header runs to the first ``K:`` line; the
music body follows and, as ABC 2.1 says, ends at the first empty line. Anything
between that empty line and the next ``X:`` is free text and is dropped.

``normalise_tune`` turns a tune into one clean block that a character model can
learn from:

- every tune is renumbered ``X:1``: the index is a file-local counter that
  carries no music, and a constant first line gives the model a clean start;
- header fields are kept only if they change how the music reads
  (``KEEP_FIELDS``: title, metre, unit length, tempo, parts, voices, rhythm,
  user symbols, key); notes, sources, transcribers, history, books, words and
  player instructions (N:, Z:, S:, H:, B:, O:, C:, W:, I:, ...) are dropped,
  and so are header lines that are not fields at all;
- ``field: value`` is written ``field:value``;
- ``%`` comments and ``%%`` directives are stripped, tabs become spaces and
  lines lose leading and trailing whitespace;
- when the header has no ``L:``, the ABC 2.1 default is written before ``K:``
  (``L:1/16`` for metres below 3/4, such as 2/4, else ``L:1/8``), so the unit
  length is always explicit and a model never has to infer it from the metre;
- ``K:`` is the last header line, the body follows.

Files that are not valid UTF-8 are decoded as Latin-1 (the usual encoding of
older ABC files) with an ``ABCWarning``.
"""

import importlib.resources
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

from tfdl.errors import UserError
from tfdl.music.notation import BODY_FIELDS, COMMON_TIME, FIELD_LINE

# Fields that change how the music is read or played; everything else is metadata.
KEEP_FIELDS = frozenset("TMLQPVRUmK")
# Fields ABC 2.1 allows after K:; in the body any other "A:"-like line is music.


class ABCError(UserError):
    """A file or directory that yields no usable tunes."""


class ABCWarning(UserWarning):
    """A file was skipped, re-decoded or lost some tunes while loading."""


def split_tunes(text: str) -> list[str]:
    """Split ABC text into tunes, each from its ``X:`` line up to the next one.

    Text before the first ``X:`` line (file headers, comments) is ignored.
    Trailing blank lines of each tune are removed.
    """
    tunes: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("X:"):
            tunes.append([])
        if tunes:
            tunes[-1].append(line)
    return ["\n".join(lines).rstrip() for lines in tunes]


def _clean(line: str) -> str:
    """Drop a ``%`` comment (``\\%`` is an escaped percent sign), tabs and outer spaces.

    Whitespace in ABC only decides beaming between notes, so spaces at either
    end of a line and the difference between a tab and a space carry no music.
    """
    match = re.search(r"(?<!\\)%", line)
    return (line[: match.start()] if match else line).replace("\t", " ").strip()


def default_unit_length(header: list[str]) -> str:
    """ABC 2.1 section 3.1.7: 1/16 if the metre is below 0.75 (2/4, 3/8), else 1/8."""
    metre = next((h[2:] for h in header if h.startswith("M:")), "")
    metre = COMMON_TIME.get(metre, metre)
    # "none" and "2+3/8" get 1/8, and so do numbers too long to be a meter
    match = re.fullmatch(r"([0-9]{1,9})/([0-9]{1,9})", metre)
    return "L:1/16" if match and 4 * int(match[1]) < 3 * int(match[2]) else "L:1/8"


def normalise_tune(tune: str) -> str | None:
    """One clean tune block, or None if the tune has no ``K:`` field or no music."""
    lines = tune.splitlines()
    if lines and lines[0].startswith("X:"):
        lines = lines[1:]  # rewritten as X:1
    header, body = ["X:1"], []
    in_body = keep_continuation = False
    for raw in lines:
        if not raw.strip():
            if body:
                break  # an empty line ends the tune (ABC 2.1); what follows is free text
            continue
        line = _clean(raw)
        if not line:
            continue  # a comment-only line is not an empty line
        match = FIELD_LINE.match(line)
        if match and (not in_body or match.group(1) in BODY_FIELDS):
            key, value = match.groups()
            # "+:" continues the previous field and shares its fate
            keep = keep_continuation if key == "+" else key in KEEP_FIELDS
            keep_continuation = keep
            if not keep:
                continue
            line = f"{key}:{value.strip()}"
            if key == "K" and not in_body:
                if not any(h.startswith("L:") for h in header):
                    header.append(default_unit_length(header))
                header.append(line)
                in_body = True
                continue
        elif not in_body:
            continue  # a header line that is not a field, e.g. a stray "3/8=120"
        (body if in_body else header).append(line)
    if not in_body or not body:
        return None
    return "\n".join(header + body)


def _music_key(tune: str) -> str:
    """The key line and body with all whitespace removed: what "same music" means."""
    music = tune[tune.index("\nK:") :] if "\nK:" in tune else tune
    return "".join(music.split())


def dedupe(tunes: list[str]) -> list[str]:
    """Drop tunes whose key and body repeat an earlier tune's; keep the first.

    Titles and other header fields are ignored, so one tune printed under two
    names counts once, and whitespace is ignored, so layout does not matter.
    """
    seen: set[str] = set()
    kept = []
    for tune in tunes:
        key = _music_key(tune)
        if key not in seen:
            seen.add(key)
            kept.append(tune)
    return kept


def saved_split(settings: dict) -> tuple[float, int]:
    """``(val_fraction, seed)`` a model's settings.json split its tunes with.

    Settings written without them mean `train_val_split`'s defaults.
    """
    return settings.get("val_fraction", 0.1), settings.get("seed", 0)


def train_val_split(
    tunes: list[str], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split by tune, reproducibly from ``seed``; both parts keep corpus order.

    With two or more tunes both parts are non-empty, so no tune is ever split
    between training and validation.
    """
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}")
    n = len(tunes)
    n_val = min(max(round(n * val_fraction), 1), n - 1) if n >= 2 else 0
    val_idx = set(np.random.default_rng(seed).permutation(n)[:n_val].tolist())
    train = [t for i, t in enumerate(tunes) if i not in val_idx]
    val = [t for i, t in enumerate(tunes) if i in val_idx]
    return train, val


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ABCError(f"{path}: cannot read ({err.strerror})") from err
    if not data.strip():
        raise ABCError(f"{path}: empty file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        n_high = sum(b >= 0x80 for b in data)
        warnings.warn(
            f"{path}: not valid UTF-8, decoded as Latin-1 ({n_high} non-ASCII bytes)",
            ABCWarning,
            stacklevel=4,  # _read_text -> _load_file -> load_tunes -> caller
        )
        return data.decode("latin-1")


def _load_file(path: Path) -> list[str]:
    raw = split_tunes(_read_text(path))
    if not raw:
        raise ABCError(f"{path}: no tunes (no line starts with 'X:')")
    tunes = [t for t in map(normalise_tune, raw) if t is not None]
    if not tunes:
        raise ABCError(f"{path}: none of its {len(raw)} tunes has a K: field and a music body")
    if len(tunes) < len(raw):
        warnings.warn(
            f"{path}: dropped {len(raw) - len(tunes)} of {len(raw)} tunes "
            "without a K: field or a music body",
            ABCWarning,
            stacklevel=3,
        )
    return tunes


def load_tunes(path: str | os.PathLike) -> list[str]:
    """Normalised tunes from an ABC file or from every ``*.abc`` under a directory.

    A single file that yields no tunes raises ``ABCError``. In a directory such
    files are skipped with one ``ABCWarning`` each and a summary; the directory
    raises ``ABCError`` only if no file yields a tune.
    """
    path = Path(path)
    if path.is_file():
        return _load_file(path)
    if not path.is_dir():
        raise ABCError(f"no such file or directory: {path}")
    files = sorted(path.rglob("*.abc"))
    if not files:
        raise ABCError(f"{path}: directory holds no .abc files")
    tunes, skipped = [], 0
    for file in files:
        try:
            tunes.extend(_load_file(file))
        except ABCError as err:
            skipped += 1
            warnings.warn(f"skipped {err}", ABCWarning, stacklevel=2)
    if not tunes:
        raise ABCError(f"{path}: no tunes in any of its {len(files)} .abc files")
    if skipped:
        warnings.warn(
            f"{path}: skipped {skipped} of {len(files)} .abc files", ABCWarning, stacklevel=2
        )
    return tunes


# What a model's settings.json says for "data" when it learnt from the shipped corpus.
SHIPPED_CORPUS = "shipped corpus"


def corpus_path() -> Path:
    """The shipped ``folk_tunes.abc``, installed or in a repository checkout."""
    try:
        path = Path(str(importlib.resources.files("tfdl.abc_data") / "folk_tunes.abc"))
    except ModuleNotFoundError:  # a checkout: abc_data/ sits next to tfdl/
        import tfdl

        path = Path(tfdl.__file__).resolve().parent.parent / "abc_data" / "folk_tunes.abc"
    if not path.is_file():
        raise ABCError(f"no such file or directory: {path} (run abc_data/build_corpus.py)")
    return path


def load_corpus() -> list[str]:
    """The shipped folk-tune corpus, one normalised tune per item."""
    return load_tunes(corpus_path())


def corpus_books() -> dict[str, range]:
    """Each source collection of the shipped corpus and its tunes' positions in it.

    ``build_corpus.py`` writes the collections one after another, in the order
    ``folk_tunes.json`` lists them, with the count it kept of each.
    """
    stats = json.loads(corpus_path().with_suffix(".json").read_text())
    books, start = {}, 0
    for name, counts in stats["sources"].items():
        books[name] = range(start, start + counts["tunes_kept"])
        start += counts["tunes_kept"]
    if start != stats["tunes"]:
        raise ABCError(
            f"folk_tunes.json counts {start} tunes by source but {stats['tunes']} in all"
        )
    return books


def split_off_book(tunes: list[str], book: str) -> tuple[list[str], list[str]]:
    """``(rest, book_tunes)``: the shipped corpus ``tunes`` without and with one collection."""
    books = corpus_books()
    if book not in books:
        raise UserError(f"no book {book!r} in the shipped corpus; it has {', '.join(books)}")
    span = books[book]
    return [t for i, t in enumerate(tunes) if i not in span], tunes[span.start : span.stop]

"""The largest numbers in real ABC tunes, to choose `tfdl.music.limits` from.

Reads the shipped corpus (abc_data/folk_tunes.abc) and the music21 collections it
is built from, finds every number the limits bound (with the limits' own reading
of a tune: annotations, decorations and text fields are not music), and prints the
largest of each kind next to the bound, as a JSON object.

    python bench/abc_limits_survey.py
"""

import json
import re
from collections import defaultdict

from tfdl.music import abc, limits
from tfdl.music.limits import _TOKEN
from tfdl.music.notation import FIELD_LINE

SOURCES = ("oneills1850", "ryansMammoth", "airdsAirs")


def numbers(tune):
    """``{kind: [values]}`` of one tune."""
    found = defaultdict(list)
    found["tune size"].append(len(tune))
    lines = tune.split("\n")
    key_line = next((n for n, line in enumerate(lines) if line.startswith("K:")), len(lines))

    def field(key, value):
        value = value.strip()
        if key == "M" and re.fullmatch(r"[0-9+]+/[0-9]+", value):
            beats, divisor = value.split("/")
            found["meter beats"].append(sum(int(n) for n in beats.split("+")))
            found["meter divisor"].append(int(divisor))
        elif key == "L" and re.fullmatch(r"[0-9]+/[0-9]+", value):
            found["L: multiplier"].append(int(value.split("/")[0]))
            found["L: divisor"].append(int(value.split("/")[1]))
        elif key == "Q":
            text = re.sub(r'"[^"]*"', "", value)
            for num, den in re.findall(r"([0-9]+)/([0-9]+)", text):
                found["tempo beat multiplier"].append(int(num))
                found["tempo beat divisor"].append(int(den))
            tempo = re.search(r"(?:^|=)\s*([0-9]+)\s*$", text)
            if tempo:
                found["tempo"].append(int(tempo[1]))

    for line in lines[: key_line + 1]:
        match = FIELD_LINE.fullmatch(line.strip())
        if match:
            field(match[1], match[2])
    in_bar, slurs = 0, 0
    for line in lines[key_line + 1 :]:
        match = FIELD_LINE.match(line)
        if match:
            field(match[1], match[2])
            continue
        for token in _TOKEN.finditer(line):
            if token["bar"]:
                found["bar lines"].append(found["bar lines"].pop() + 1 if found["bar lines"] else 1)
                found["characters of one bar"].append(in_bar)
                in_bar = 0
            elif not (token["comment"] or token["quoted"] or token["decoration"]):
                in_bar += len(token[0].strip())
            if token["other"] in ("(", ")"):
                slurs = slurs + 1 if token["other"] == "(" else max(slurs - 1, 0)
                found["slurs open at once"].append(slurs)
            if token["key"]:
                field(token["key"], token["value"])
            for name in ("bar_ending", "ending"):
                if token[name]:
                    found["ending"] += [int(n) for n in re.split(r"[,-]", token[name])]
            if token["tuplet"]:
                found["tuplet number"] += [int(n) for n in token["tuplet"].split(":") if n]
                if slurs:
                    found["tuplets under a slur"].append(len(found["tuplets under a slur"]) + 1)
            if token["rest"]:
                found["multi-bar rest"].append(int(token["rest"]))
            if token["length"]:
                num, slashes, den = re.fullmatch(r"([0-9]*)(/*)([0-9]*)", token["length"]).groups()
                if num:
                    found["note multiplier"].append(int(num))
                if slashes:
                    found["note divisor"].append(int(den or 2) * 2 ** (len(slashes) - 1))
    return found


BOUNDS = {
    "tune size": limits.MAX_TUNE_CHARS,
    "bar lines": limits.MAX_BARS,
    "characters of one bar": limits.MAX_BAR_CHARS,
    "slurs open at once": limits.MAX_OPEN_SLURS,
    "tuplets under a slur": limits.MAX_SLURRED_TUPLETS,
    "note multiplier": limits.MAX_NOTE_MULTIPLIER,
    "note divisor": limits.MAX_NOTE_DIVISOR,
    "meter beats": limits.MAX_METER_BEATS,
    "meter divisor": limits.MAX_METER_DIVISOR,
    "L: multiplier": limits.MAX_UNIT_MULTIPLIER,
    "L: divisor": limits.MAX_UNIT_DIVISOR,
    "ending": limits.MAX_ENDING,
    "multi-bar rest": limits.MAX_REST_BARS,
    "tuplet number": limits.MAX_TUPLET,
    "tempo": limits.MAX_TEMPO,
    "tempo beat multiplier": limits.MAX_BEAT_MULTIPLIER,
    "tempo beat divisor": limits.MAX_BEAT_DIVISOR,
}


def largest(tunes):
    most = defaultdict(int)
    for tune in tunes:
        for kind, values in numbers(tune).items():
            most[kind] = max(most[kind], *values)
    return most


def main():
    import music21

    corpus = largest(abc.load_corpus())
    root = music21.common.getCorpusFilePath()
    raw = [
        tune
        for source in SOURCES
        for path in sorted((root / source).rglob("*.abc"))
        for tune in abc.split_tunes(path.read_text(encoding="utf-8", errors="replace"))
    ]
    sources = largest(raw)
    table = {
        kind: {"corpus": corpus.get(kind), "sources": sources.get(kind), "bound": bound}
        for kind, bound in BOUNDS.items()
    }
    print(json.dumps({"tunes": {"corpus": len(abc.load_corpus()), "sources": len(raw)}, **table}))


if __name__ == "__main__":
    main()

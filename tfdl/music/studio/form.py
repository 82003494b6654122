"""What the studio's form offers for a model, and the check of a generate request.

`header_choices` reads the meters and keys a model can be asked for from the tunes
it learnt from (as folkrnn.org reads them from its model's tokens). `parse_request`
(after `parse_body`) turns the JSON body of ``POST /api/generate`` into a
`GenerateRequest`, or raises a
`FormError` naming the field, in one line the page shows next to that field.
"""

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from itertools import accumulate

from tfdl.errors import UserError
from tfdl.music import limits
from tfdl.music.abc import default_unit_length
from tfdl.music.grammar import MAX_PARTS, TUNE_TYPES, form_plan
from tfdl.music.meter import meter_length
from tfdl.music.notation import parse_key, plain_key
from tfdl.music.songs import error_line, header_problem

MAX_SONGS = 16  # one batch; 16 songs of 2,000 characters take seconds, not minutes
MAX_LENGTH = 2000  # characters after the prime: longer than any tune of the corpus
DEFAULT_LENGTH = 1500  # as `tfdl music generate`
MAX_PRIME = 2000
MAX_SEED = 2**31 - 1  # the sampler keys its noise with an int32 seed
# folkrnn.org's range: below 0.01 every draw is the likeliest character, above 10 noise.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 10.0

# When the model's training tunes cannot be read (moved, or deleted): common choices.
COMMON_METERS = ("6/8", "2/4", "C|", "C", "3/4", "9/8", "4/4", "12/8", "3/2")
COMMON_KEYS = ("G", "D", "A", "C", "F", "Am", "Em", "Dm", "Ador", "Edor", "Amix", "Dmix")

_METER_NAMES = {"C": "C (common time, 4/4)", "C|": "C| (cut time, 2/2)"}
# Arrays and objects inside each other: a request is one flat object (depth 1), its
# errors name nested values (depth 2). json.loads recurses once per level.
MAX_JSON_DEPTH = 8
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
FIELDS = ("meter", "key", "temperature", "top_k", "seed", "num_songs", "length", "prime")
# The song-form fields (tfdl.music.grammar): a tune type, its parts and bars per part.
FORM_FIELDS = ("type", "parts", "bars_per_part")


class FormError(UserError):
    """A bad value in a generate request; ``field`` names it (None: the whole body)."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def key_name(key):
    """A key as a musician says it: ``"Ador"`` -> ``"A dorian"``; unknown spellings as given."""
    parsed = parse_key(key) if plain_key(key) else None
    return parsed.name if parsed else key


def _choices(values, name):
    """``[{"value", "label", "tunes"}]``: one per name, the commonest spelling, commonest first."""
    spellings = {}
    for value, count in Counter(values).items():
        spellings.setdefault(name(value), Counter())[value] += count
    rows = [
        {"value": counts.most_common(1)[0][0], "label": label, "tunes": counts.total()}
        for label, counts in spellings.items()
    ]
    return sorted(rows, key=lambda row: (-row["tunes"], row["label"]))


def header_choices(tunes, vocab):
    """The meters and keys of ``tunes`` (a list of ABC tunes, or None if they could not
    be read) that ``vocab`` can write: ``{"meters": [...], "keys": [...], "from": ...}``."""
    meters, keys = [], []
    for tune in tunes or ():
        for line in tune.splitlines():
            if line.startswith("M:"):
                meters.append(line[2:].strip())
            elif line.startswith("K:"):
                keys.append(line[2:].strip())
                break  # the header ends at K:
    source = f"{len(tunes)} training tunes" if tunes else "common choices"
    if not tunes:
        meters, keys = list(COMMON_METERS), list(COMMON_KEYS)
    meters = [m for m in meters if meter_length(m) is not None and not vocab.unknown(m)]
    keys = [k for k in keys if not header_problem(f"M:C\nK:{k}") and not vocab.unknown(k)]
    choices = {
        "meters": _choices(meters, lambda m: _METER_NAMES.get(m, m)),
        "keys": _choices(keys, key_name),
        "from": source,
    }
    if not tunes:  # counted no tunes: say so, not "1 tune" each
        for row in choices["meters"] + choices["keys"]:
            row["tunes"] = 0
    return choices


@dataclass(frozen=True)
class GenerateRequest:
    """A checked request: None for meter or key lets the model choose it."""

    meter: str | None = None
    key: str | None = None
    temperature: float = 1.0
    top_k: int | None = None
    seed: int | None = None
    num_songs: int = 1
    length: int = DEFAULT_LENGTH
    prime: str = ""
    type: str = "any"  # a tune type of tfdl.music.grammar.TUNE_TYPES
    parts: int | None = None  # None: the type's
    bars_per_part: int | None = None

    def prime_text(self):
        """What every song starts with: the header chosen, then ``prime``.

        ``M:`` comes before ``K:``, which ends an ABC header; ``L:`` is ABC's default for
        the meter, what the corpus uses for nearly every tune of that meter.
        """
        header = ["X:1"]
        meter = self.meter or _type_meter(self.type)
        if meter:
            header += [f"M:{meter}", default_unit_length([f"M:{meter}"])]
        if self.key:
            header.append(f"K:{self.key}")
        return "\n".join(header) + "\n" + self.prime

    def to_json(self):
        return asdict(self)


def _shown(value, most=40):
    """``repr(value)`` cut to ``most`` characters: JSON numbers may have 4,000 digits."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**most else "a huge number"
    return text if len(text) <= most else text[:most] + "..."


def _integer(body, field, default, low, high, allow_none=False):
    value = body.get(field, default)
    if value is None and allow_none:
        return None
    # JSON true is a Python int: refuse it as one
    if isinstance(value, bool) or not isinstance(value, int):
        expected = "a whole number or null" if allow_none else "a whole number"
        raise FormError(field, f"{field} must be {expected}, got {_shown(value)}")
    if not low <= value <= high:  # compared as it is, never converted
        raise FormError(field, f"{field} must be between {low} and {high}, got {_shown(value)}")
    return value


def _text(body, field, vocab, most=40):
    """A one-line text field, or None when absent or empty."""
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FormError(field, f"{field} must be text, got {value!r}"[:200])
    if len(value) > most or "\n" in value or "\r" in value:
        raise FormError(field, f"{field} must be one short line, got {value[:40]!r}")
    _known(field, value, vocab)
    return value.strip()


def _known(field, text, vocab):
    unknown = vocab.unknown(text)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown)
        raise FormError(field, f"{field} has characters the model does not know: {shown}")


def parse_body(body):
    """The JSON value in ``body`` (bytes); raises `FormError` for a body that is not
    JSON or nests deeper than `MAX_JSON_DEPTH` (``"[" * 30000`` was a RecursionError)."""
    outside_strings = _JSON_STRING.sub(b'""', body)
    depth = max(accumulate((c in b"[{") - (c in b"]}") for c in outside_strings), default=0)
    if depth > MAX_JSON_DEPTH:
        raise FormError(None, f"the body nests {depth} levels deep; at most {MAX_JSON_DEPTH}")
    try:
        return json.loads(body)
    except ValueError as e:  # also a body that is not UTF-8, or an int of 5,000 digits
        raise FormError(None, f"the body is not JSON: {error_line(e)}") from None


def parse_request(body, vocab):
    """The `GenerateRequest` in ``body`` (a parsed JSON value); raises `FormError`.

    Every field is optional; fields not in `FIELDS` are refused (a typo such as
    ``"temprature"`` would otherwise be silently ignored).
    """
    if not isinstance(body, dict):
        raise FormError(None, f"the body must be a JSON object, got {type(body).__name__}")
    extra = sorted(set(body) - set(FIELDS) - set(FORM_FIELDS))
    if extra:
        fields = ", ".join(FIELDS + FORM_FIELDS)
        raise FormError(None, f"unknown field {extra[0]!r} (fields: {fields})")

    meter = _text(body, "meter", vocab)
    beyond = meter and limits.field_problem("M", meter)
    if beyond:  # M:99999/1 held music21 for minutes
        raise FormError("meter", f"meter {beyond}")
    if meter is not None and meter_length(meter) is None:
        raise FormError("meter", f"meter {meter!r} is no ABC meter (e.g. 6/8, 3/4, C|)")
    form = _form_fields(body, meter)
    key = _text(body, "key", vocab)
    if key is not None and header_problem(f"M:C\nK:{key}"):
        raise FormError("key", f"key {key!r} is no ABC key (e.g. D, Ador, Em, Gmix)")
    if key is not None and meter is None and _type_meter(form["type"]) is None:
        # K: ends the header: a meter the model chose would come after it, too late
        raise FormError("meter", "meter: choose a meter to go with the key, or leave both open")

    temperature = body.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise FormError("temperature", f"temperature must be a number, got {_shown(temperature)}")
    # compared before any conversion: float(10**400) overflows; NaN and infinity fail too
    if not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:
        raise FormError(
            "temperature",
            f"temperature must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE:g}, "
            f"got {_shown(temperature)}",
        )

    prime = body.get("prime")
    prime = "" if prime is None else prime
    if not isinstance(prime, str):
        raise FormError("prime", f"prime must be ABC text, got {prime!r}"[:200])
    if len(prime) > MAX_PRIME:
        raise FormError("prime", f"prime must be at most {MAX_PRIME} characters, got {len(prime)}")
    _known("prime", prime, vocab)
    beyond = limits.body_problem(prime)
    if beyond:  # Z999999999, |1-999999999: before the sampler's bar reader reads it
        raise FormError("prime", f"prime has {beyond}")
    if prime.strip():
        if (meter is None and _type_meter(form["type"]) is None) or key is None:
            raise FormError("prime", "prime: choose a meter and a key too (it goes after them)")
        if not re.search(r"[|:\]]\s*$", prime):
            raise FormError("prime", "prime must end with a bar line (|), where a new bar starts")

    return GenerateRequest(
        meter=meter,
        key=key,
        temperature=float(temperature),
        top_k=_integer(body, "top_k", None, 1, len(vocab), allow_none=True),
        seed=_integer(body, "seed", None, 0, MAX_SEED, allow_none=True),
        num_songs=_integer(body, "num_songs", 1, 1, MAX_SONGS),
        length=_integer(body, "length", DEFAULT_LENGTH, 1, MAX_LENGTH),
        prime=prime if prime.strip() else "",
        **form,
    )


def _type_meter(tune_type):
    return TUNE_TYPES[tune_type].meter


def _form_fields(body, meter):
    """``type``, ``parts`` and ``bars_per_part`` of a request, checked by the sampler's
    own `tfdl.music.grammar.form_plan` (its message names the field)."""
    tune_type = body.get("type", "any")
    if tune_type is None:
        tune_type = "any"
    if not isinstance(tune_type, str) or tune_type not in TUNE_TYPES:
        raise FormError("type", f"type must be one of {', '.join(TUNE_TYPES)}, got {tune_type!r}")
    parts = _integer(body, "parts", None, 1, MAX_PARTS, allow_none=True)
    bars = _integer(body, "bars_per_part", None, 1, 64, allow_none=True)
    try:
        form_plan(tune_type, parts, bars, meter)
    except UserError as e:
        raise FormError("bars_per_part", str(e)) from None
    return {"type": tune_type, "parts": parts, "bars_per_part": bars}

// The studio's page: the form and its checks (the server makes the same ones), the
// songs as abcjs notation with their validity, playback and downloads, and the history.
"use strict";

const $ = (id) => document.getElementById(id);
const FIELDS = [
  "meter", "key", "type", "parts", "bars_per_part",
  "temperature", "top_k", "seed", "num_songs", "length", "prime",
];
const HISTORY_KEY = "tfdl-studio-history";
const HISTORY_ROWS = 200;
let model = null; // what GET /api/model answered
let playing = null; // the abcjs synth now playing, if any

// An element with attributes and children (strings become text, never HTML).
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// A character as Python's repr writes it, as the server's messages do: 'x', '\t'.
function quote(c) {
  const escaped = { "\t": "\\t", "\r": "\\r", "\\": "\\\\" }[c];
  if (escaped) return `'${escaped}'`;
  return c === "'" ? `"'"` : `'${c}'`;
}

function plural(n, word) {
  return n === 1 ? `1 ${word}` : `${n} ${word}s`;
}

async function start() {
  try {
    model = await (await fetch("/api/model")).json();
  } catch (error) {
    $("model-line").textContent = "The studio does not answer: is 'tfdl music studio' running?";
    return;
  }
  const units = model.rnn_units ? ` (an LSTM of ${model.rnn_units} units)` : "";
  $("model-line").textContent =
    `Model: ${model.model}${units}. Meters and keys from ${model.choices_from}.`;
  fillSelect($("meter"), model.meters);
  fillSelect($("key"), model.keys);
  for (const type of model.types) {
    const meter = type.meter ? `${type.meter}, ` : "";
    const label = `${type.value} (${meter}${type.parts} × ${type.bars_per_part} bars)`;
    $("type").add(new Option(label, type.value));
  }
  $("type").value = "any";
  $("length").value = model.default_length;
  $("random-seed").addEventListener("change", syncSeed);
  syncSeed();
  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    generate(readForm());
  });
  $("playback-note").textContent = playbackNote();
  renderHistory();
  document.body.dataset.ready = "true";
}

function fillSelect(select, choices) {
  select.add(new Option("any (the model chooses)", ""));
  for (const choice of choices) {
    const count = choice.tunes ? ` (${choice.tunes} tunes)` : "";
    select.add(new Option(choice.label + count, choice.value));
  }
  if (choices.length) select.value = choices[0].value; // the commonest
}

function syncSeed() {
  $("seed").readOnly = $("random-seed").checked;
}

function readForm() {
  return {
    meter: $("meter").value,
    key: $("key").value,
    type: $("type").value,
    parts: $("parts").value.trim(),
    bars_per_part: $("bars_per_part").value.trim(),
    temperature: $("temperature").value.trim(),
    top_k: $("top_k").value.trim(),
    seed: $("random-seed").checked ? "" : $("seed").value.trim(),
    num_songs: $("num_songs").value.trim(),
    length: $("length").value.trim(),
    prime: $("prime").value,
  };
}

function wholeNumber(field, text, [low, high], optional, errors) {
  if (text === "" && optional) return null;
  if (!/^-?\d+$/.test(text)) {
    errors[field] = `${field} must be a whole number, got ${text === "" ? "nothing" : quote(text)}`;
    return null;
  }
  const value = Number(text);
  if (value < low || value > high) {
    errors[field] = `${field} must be between ${low} and ${high}, got ${value}`;
  }
  return value;
}

// The request body, and {field: message} for each bad field: the server's checks.
function checkForm(raw) {
  const errors = {};
  const limits = model.limits;
  const body = { meter: raw.meter || null, key: raw.key || null, type: raw.type || "any" };
  const typeMeter = model.types.find((type) => type.value === body.type)?.meter;
  if (body.key && !body.meter && !typeMeter) {
    errors.meter = "meter: choose a meter to go with the key, or leave both open";
  }
  const [low, high] = limits.temperature;
  body.temperature = Number(raw.temperature);
  if (raw.temperature === "" || !(body.temperature >= low && body.temperature <= high)) {
    const got = raw.temperature === "" ? "nothing" : raw.temperature;
    errors.temperature = `temperature must be between ${low} and ${high}, got ${got}`;
  }
  body.top_k = wholeNumber("top_k", raw.top_k, limits.top_k, true, errors);
  body.seed = wholeNumber("seed", raw.seed, limits.seed, true, errors);
  body.num_songs = wholeNumber("num_songs", raw.num_songs, limits.num_songs, false, errors);
  body.length = wholeNumber("length", raw.length, limits.length, false, errors);
  body.parts = wholeNumber("parts", raw.parts, [1, 8], true, errors);
  body.bars_per_part = wholeNumber("bars_per_part", raw.bars_per_part, [1, 64], true, errors);
  if (body.bars_per_part !== null && ![4, 8, 12, 16].includes(body.bars_per_part)) {
    errors.bars_per_part = `bars per part must be 4, 8, 12 or 16, got ${body.bars_per_part}`;
  }
  body.prime = raw.prime;
  const unknown = [...new Set(raw.prime)].filter((c) => !model.vocab.includes(c)).sort();
  if (unknown.length) {
    errors.prime = `prime has characters the model does not know: ${unknown.map(quote).join(", ")}`;
  } else if (raw.prime.trim() && !((body.meter || typeMeter) && body.key)) {
    errors.prime = "prime: choose a meter and a key too (it goes after them)";
  } else if (raw.prime.trim() && !/[|:\]]\s*$/.test(raw.prime)) {
    errors.prime = "prime must end with a bar line (|), where a new bar starts";
  }
  return { body, errors };
}

function clearErrors() {
  for (const field of [...FIELDS, "form"]) {
    $(`error-${field}`).textContent = "";
    $(field)?.classList.remove("invalid-input");
  }
}

function showErrors(errors) {
  for (const [field, message] of Object.entries(errors)) {
    const known = FIELDS.includes(field);
    $(`error-${known ? field : "form"}`).textContent = message;
    if (known) $(field).classList.add("invalid-input");
  }
}

async function generate(raw) {
  clearErrors();
  const { body, errors } = checkForm(raw);
  if (Object.keys(errors).length) {
    showErrors(errors);
    return;
  }
  $("generate").disabled = true;
  $("status").textContent = `Composing ${plural(body.num_songs, "song")}…`;
  let response, answer;
  try {
    response = await fetch("/api/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    answer = await response.json();
  } catch (error) {
    answer = { error: "The studio did not answer: is 'tfdl music studio' still running?" };
  } finally {
    $("generate").disabled = false;
    $("status").textContent = "";
  }
  if (!response?.ok) {
    showErrors({ [answer.field || "form"]: answer.error });
    return;
  }
  $("seed").value = answer.seed; // always shown, random or not
  const valid = answer.songs.filter((song) => song.valid).length;
  $("status").textContent =
    `${plural(answer.songs.length, "song")} in ${answer.seconds} s, seed ${answer.seed}: ${valid} valid`;
  showSongs(answer);
  addHistory(answer);
}

function showSongs(answer) {
  stopPlaying();
  const box = $("songs");
  box.replaceChildren();
  answer.songs.forEach((song, n) => {
    const title = `Song ${n + 1} of ${answer.songs.length}`;
    const badge = el(
      "span",
      { class: `badge ${song.valid ? "valid" : "invalid"}` },
      song.valid ? `valid: ${song.bars} bars, every one fits the meter` : `invalid: ${song.reason}`,
    );
    const formBadge = el("span", { class: "form-badge" }, song.form);
    const score = el("div", { class: "score" });
    const card = el(
      "article",
      { class: "song", id: `song-${song.id}`, "data-valid": String(song.valid) },
      el("h3", {}, title, badge, formBadge),
      score,
    );
    box.append(card);
    const [tune] = ABCJS.renderAbc(score, song.abc, { responsive: "resize" });
    const links = [...downloads(song, answer.seed, n + 1), playback(song, tune)];
    if (song.first_part) links.push(newPartButton(song));
    card.append(el("div", { class: "links" }, ...links));
    card.append(el("details", {}, el("summary", {}, "ABC"), el("pre", {}, song.abc)));
  });
}

// Keep the song's first part and draw the rest again with a new seed: the first part
// becomes the prime, after the song's own meter and key.
function newPartButton(song) {
  const button = el("button", { type: "button", class: "new-part" }, "new B part");
  button.addEventListener("click", () => {
    const header = (field) => (song.abc.match(new RegExp(`^${field}:(.*)$`, "m")) || [])[1];
    setSelect("meter", header("M")?.trim() ?? "");
    setSelect("key", header("K")?.trim() ?? "");
    $("prime").value = song.first_part;
    $("num_songs").value = "1";
    $("random-seed").checked = true;
    syncSeed();
    generate(readForm());
  });
  return button;
}

function setSelect(field, value) {
  const select = $(field);
  if (![...select.options].some((option) => option.value === value)) {
    select.add(new Option(value, value));
  }
  select.value = value;
}

function downloads(song, seed, n) {
  const name = `tfdl-seed${seed}-song${n}`;
  const links = [["abc_url", "abc", "ABC"], ["midi_url", "mid", "MIDI"], ["wav_url", "wav", "WAV"]];
  return links
    .filter(([url]) => song[url])
    .map(([url, suffix, label]) =>
      el("a", { href: song[url], download: `${name}.${suffix}`, class: `download-${suffix}` }, `⤓ ${label}`),
    );
}

function playbackNote() {
  const install = `To hear songs offline, ${model.playback.install}, then restart the studio.`;
  if (model.playback.wav) {
    return `Playback: WAV files made by ${model.playback.synthesiser} on the studio's machine.`;
  }
  if (ABCJS.synth.supportsAudio()) {
    return (
      "Playback: abcjs's synth in this page. It needs a soundfont, which abcjs downloads " +
      `from the internet: with no internet it stays silent. ${install}`
    );
  }
  return `No playback: the studio found no synthesiser and this browser has no Web Audio. ${install}`;
}

function playback(song, tune) {
  if (!song.valid) return el("span", { class: "note" }, "no MIDI or audio: the song is not valid");
  if (song.wav_url) return el("audio", { controls: "", preload: "none", src: song.wav_url });
  if (!ABCJS.synth.supportsAudio()) return el("span", { class: "note" }, "no playback (see above)");
  const button = el("button", { type: "button", class: "play" }, "▶ play (abcjs synth)");
  button.addEventListener("click", () => playWithAbcjs(tune, button));
  return button;
}

async function playWithAbcjs(tune, button) {
  const wasPlaying = playing?.button === button;
  stopPlaying();
  if (wasPlaying) return;
  const synth = new ABCJS.synth.CreateSynth();
  playing = { synth, button };
  button.textContent = "loading the soundfont…";
  try {
    await synth.init({ visualObj: tune });
    await synth.prime();
    if (playing?.synth !== synth) return; // stopped meanwhile
    synth.start();
    button.textContent = "■ stop";
  } catch (error) {
    playing = null;
    button.textContent = "▶ play (abcjs synth)";
    $("error-form").textContent =
      "abcjs could not load its soundfont (it comes from the internet). " + model.playback.install;
  }
}

function stopPlaying() {
  if (!playing) return;
  playing.synth.stop();
  playing.button.textContent = "▶ play (abcjs synth)";
  playing = null;
}

// -- history: every song of this browser session, with what it takes to make it again --

function loadHistory() {
  try {
    return JSON.parse(sessionStorage.getItem(HISTORY_KEY)) || [];
  } catch (error) {
    return [];
  }
}

function addHistory(answer) {
  const time = new Date().toLocaleTimeString();
  const rows = answer.songs.map((song, n) => ({
    time,
    song: `${n + 1} of ${answer.songs.length}`,
    model: answer.model,
    settings: answer.settings,
    valid: song.valid,
    reason: song.reason,
  }));
  const history = [...rows.reverse(), ...loadHistory()].slice(0, HISTORY_ROWS);
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history));
  renderHistory();
}

function renderHistory() {
  const history = loadHistory();
  $("history-empty").hidden = history.length > 0;
  $("history").tBodies[0].replaceChildren(
    ...history.map((row) => {
      const s = row.settings;
      const again = el("button", { type: "button", class: "regenerate" }, "regenerate");
      again.addEventListener("click", () => regenerate(s));
      return el(
        "tr",
        {},
        ...[row.time, row.song, s.meter ?? "any", s.key ?? "any", s.temperature, s.top_k ?? "all",
          s.seed, row.model].map((text) => el("td", {}, String(text))),
        el("td", { title: row.reason || "" }, row.valid ? "✓" : `✗ ${row.reason}`),
        el("td", {}, again),
      );
    }),
  );
}

// Put a history row's settings in the form, seed included, and generate again.
function regenerate(settings) {
  for (const field of ["meter", "key"]) setSelect(field, settings[field] ?? "");
  $("type").value = settings.type ?? "any";
  const inputs = ["parts", "bars_per_part", "temperature", "top_k", "seed", "num_songs", "length"];
  for (const field of [...inputs, "prime"]) {
    $(field).value = settings[field] ?? "";
  }
  $("random-seed").checked = false;
  syncSeed();
  generate(readForm());
}

start();

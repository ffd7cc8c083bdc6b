// Caption review: sessions, search, one session's transcript, quality and exports; corrections
// with their history, and the words the engine was unsure of highlighted.
// Every value from the server is inserted as text (textContent), never as HTML.
"use strict";

const LOW_CONFIDENCE = 0.5;  // protocol/captions.py LOW_CONFIDENCE: change both together

const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; };

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw Object.assign(new Error(body.message || `${response.status} ${response.statusText}`),
      { status: response.status, body });
  }
  return body;
}

function when(unix) {
  return unix == null ? "—" : new Date(unix * 1000).toISOString().slice(0, 19).replace("T", " ");
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const value of cells) {
    const td = document.createElement("td");
    td.textContent = value;
    tr.append(td);
  }
  return tr;
}

async function listSessions() {
  const params = new URLSearchParams();
  for (const name of ["room", "from", "to"]) {
    const value = $(name).value.trim();
    if (value) params.set(name, value);
  }
  try {
    const { sessions } = await api(`/api/sessions?${params}`);
    const body = $("sessions").querySelector("tbody");
    body.replaceChildren();
    for (const s of sessions) {
      const tr = row([s.room, when(s.started_unix), when(s.ended_unix), s.segments, s.reviewed ?? 0, s.flags, s.engine]);
      tr.className = "open";
      tr.tabIndex = 0;
      tr.dataset.session = s.id;
      tr.setAttribute("aria-label", `Open session of room ${s.room} started ${when(s.started_unix)}`);
      tr.addEventListener("click", () => openSession(s.id));
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") openSession(s.id); });
      body.append(tr);
    }
    status(`${sessions.length} session(s)`);
  } catch (error) {
    status(`Could not list sessions: ${error.message}`);
  }
}

async function search(text) {
  try {
    const { hits } = await api(`/api/search?${new URLSearchParams({ q: text })}`);
    const list = $("hits");
    list.replaceChildren();
    for (const hit of hits) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "#";
      link.textContent = `${hit.room} ${when(hit.start_unix)} — ${hit.speaker_name || "unknown"}: `;
      link.addEventListener("click", (e) => { e.preventDefault(); openSession(hit.session_id); });
      item.append(link, document.createTextNode(hit.snippet));
      list.append(item);
    }
    $("results").hidden = false;
    status(`${hits.length} caption(s) match “${text}”`);
  } catch (error) {
    status(`Search failed: ${error.message}`);
  }
}

function plot(points) {
  const svg = $("latency-plot");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  if (!points.length) return;
  const maxT = Math.max(...points.map((p) => p[0]), 1);
  const maxL = Math.max(...points.map((p) => p[1]), 1);
  const x = (t) => 30 + (t / maxT) * 560;
  const y = (l) => 150 - (l / maxL) * 135;
  const axis = document.createElementNS(ns, "path");
  axis.setAttribute("d", `M30 10 V150 H590`);
  axis.setAttribute("stroke", "#777");
  axis.setAttribute("fill", "none");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "));
  line.setAttribute("stroke", "#ffd84d");
  line.setAttribute("fill", "none");
  line.setAttribute("stroke-width", "2");
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "34");
  label.setAttribute("y", "20");
  label.setAttribute("fill", "#b8b8b8");
  label.setAttribute("font-size", "12");
  label.textContent = `max ${maxL.toFixed(2)} s`;
  svg.append(axis, line, label);
}

function describe(report) {
  const dl = $("quality");
  dl.replaceChildren();
  const speed = report.reading_speed;
  const entries = [
    ["Segments, words", `${report.segments}, ${report.words}`],
    ["Latency p50 / p95 / max", `${report.latency.p50 ?? "—"} / ${report.latency.p95 ?? "—"} / ${report.latency.max ?? "—"} s`],
    ["Words per minute", `${speed.wpm ?? "—"} (guidance ${speed.guidance_wpm.join("–")})${speed.above_guidance ? " — too fast" : ""}`],
    ["Characters per second p95", `${speed.cps.p95 ?? "—"} (${speed.segments_above_cps} segment(s) above ${speed.max_cps_guidance})`],
    ["Segments over 2 × 42 characters", `${report.lines.segments_over_2x42}`],
    ["Speech without captions", `${report.gap_seconds} s in ${report.gaps.length} gap(s) of ${report.speech_seconds} s of speech`],
    ["Flagged by participants", `${report.flags.length}`],
    ["Accuracy measured by reviewers", accuracyText(report.accuracy)],
    ["Uncertain words", `${report.uncertain.words} of ${report.uncertain.words_scored} scored words, in ${report.uncertain.segments} caption(s)`],
    ["Human captioner's lines", `${report.human.segments}`],
  ];
  for (const [term, value] of entries) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  }
  plot(report.latency.points);
}

/** Downloads as corrected, or as captioned (`?original=1`). */
function exportLinks() {
  const original = $("export-original").checked ? "?original=1" : "";
  for (const link of $("exports").querySelectorAll("a[data-format]")) {
    link.href = `/api/sessions/${current}/export.${link.dataset.format}${original}`;
  }
}

function accuracyText(accuracy) {
  if (!accuracy || !accuracy.reviewed) return "no caption reviewed yet";
  const wer = accuracy.wer === null ? "—" : `${(100 * accuracy.wer).toFixed(1)} %`;
  return `word error rate ${wer} over ${accuracy.reviewed} reviewed caption(s) of ${accuracy.segments} ` +
    `(${accuracy.errors} error(s) in ${accuracy.words} words; ${accuracy.changed} corrected)`;
}

let current = null;
let shown = { segments: [], flagged: new Set() };

const uncertainWords = (s) => (s.words ?? []).filter((w) => typeof w.confidence === "number" && w.confidence < LOW_CONFIDENCE);

/** The caption as captioned, its uncertain words marked; spelled from its words when they spell
 *  it (engine captions do), plain text otherwise. */
function captionedText(cell, segment) {
  const words = segment.words ?? [];
  if (words.map((w) => w.text).join(" ") !== segment.original_text || !uncertainWords(segment).length) {
    cell.append(document.createTextNode(segment.original_text));
    return;
  }
  words.forEach((word, i) => {
    if (i) cell.append(document.createTextNode(" "));
    if (typeof word.confidence === "number" && word.confidence < LOW_CONFIDENCE) {
      const mark = document.createElement("mark");
      mark.className = "uncertain";
      mark.dataset.confidence = String(word.confidence);
      mark.title = `The engine was ${Math.round(100 * word.confidence)} % sure of this word`;
      mark.textContent = word.text;
      cell.append(mark);
    } else {
      cell.append(document.createTextNode(word.text));
    }
  });
}

function segmentRow(s, flagged) {
  const who = s.source === "human" ? `Captioner ${s.captioner ?? ""}`.trim() : s.speaker_name || "—";
  const tr = row([clock(s.start), who]);
  Object.assign(tr.dataset, {
    segment: s.segment, rev: String(s.rev), corrected: String(s.corrected), reviewed: String(s.reviewed),
    source: s.source, uncertain: String(uncertainWords(s).length),
  });
  const text = document.createElement("td");
  text.className = "caption";
  if (s.corrected) {
    const now = document.createElement("span");
    now.className = "now";
    now.textContent = s.text || "(no caption: nobody said this)";
    const was = document.createElement("span");
    was.className = "was";
    was.append("was: ");
    captionedText(was, s);
    text.append(now, was);
  } else {
    captionedText(text, s);
  }
  const review = document.createElement("td");
  review.className = "review";
  const edit = button("Correct", "edit", () => openEditor(tr, s));
  const right = button(s.reviewed && !s.corrected ? "Right ✓" : "Right", "confirm",
    () => save(tr, s, { text: s.text, rev: s.rev }));
  right.disabled = s.reviewed && !s.corrected;
  review.append(edit, right);
  tr.append(text, review);
  if (flagged.has(s.segment)) {
    tr.classList.add("flagged");
    tr.title = "Flagged as wrong by a participant";
  }
  return tr;
}

function button(label, className, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function openEditor(tr, s, message = "") {
  const cell = tr.querySelector("td.review");
  const form = document.createElement("form");
  form.className = "edit";
  const field = (label, className, value, tag = "input") => {
    const wrap = document.createElement("label");
    wrap.textContent = label;
    const input = document.createElement(tag);
    input.className = className;
    input.value = value;
    input.maxLength = className === "edit-speaker" ? 64 : 500;
    wrap.append(input);
    form.append(wrap);
    return input;
  };
  if (message) {
    const note = document.createElement("p");
    note.className = "conflict";
    note.setAttribute("role", "alert");
    note.textContent = message;
    form.append(note);
  }
  const text = field("Text", "edit-text", s.text, "textarea");
  const speaker = field("Speaker", "edit-speaker", s.speaker_name ?? "");
  const note = field("Note (optional)", "edit-note", "");
  form.append(button("Cancel", "cancel", showTranscript));
  const submit = document.createElement("button");
  submit.className = "save";
  submit.textContent = "Save";
  form.append(submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { text: text.value, rev: s.rev };
    if (speaker.value.trim() && speaker.value.trim() !== (s.speaker_name ?? "")) body.speaker = speaker.value.trim();
    if (note.value.trim()) body.note = note.value.trim();
    save(tr, s, body);
  });
  cell.replaceChildren(form);
  text.focus();
}

async function save(tr, s, body) {
  try {
    await api(`/api/sessions/${current}/segments/${encodeURIComponent(s.segment)}`, {
      method: "PATCH", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    status("Saved");
    await openSession(current, s.segment);
  } catch (error) {
    if (error.status === 409) {
      const theirs = { ...s, text: error.body.text, speaker_name: error.body.speaker, rev: error.body.rev };
      openEditor(tr, theirs, `Another reviewer changed this caption first (revision ${error.body.rev}): ` +
        `it now reads “${error.body.text}”. Your text is below: save it to replace theirs, or cancel.`);
      tr.querySelector(".edit-text").value = body.text;
      status("Not saved: another correction came first");
      const detail = await api(`/api/sessions/${current}`).catch(() => null);
      if (detail) showHistory(detail.corrections ?? [], detail.segments);  // the refusal is in it
    } else {
      status(`Not saved: ${error.message}`);
    }
  }
}

function showTranscript() {
  const order = $("order").value;
  const segments = [...shown.segments];
  if (order === "uncertain") {
    const least = (s) => Math.min(1, ...uncertainWords(s).map((w) => w.confidence));
    segments.sort((a, b) => uncertainWords(b).length - uncertainWords(a).length || least(a) - least(b) || a.start - b.start);
  }
  $("transcript").querySelector("tbody").replaceChildren(...segments.map((s) => segmentRow(s, shown.flagged)));
}

function showHistory(corrections, segments) {
  const starts = new Map(segments.map((s) => [s.segment, s.start]));
  const body = $("history").querySelector("tbody");
  body.replaceChildren(...corrections.map((c) => {
    const before = c.speaker_before && c.speaker_before !== c.speaker_after ? `${c.speaker_before}: ${c.text_before}` : c.text_before;
    const after = c.speaker_after && c.speaker_after !== c.speaker_before ? `${c.speaker_after}: ${c.text_after}` : c.text_after;
    const outcome = c.outcome === "applied" ? `revision ${c.rev}` : `refused: made on revision ${c.base_rev}, it was at ${c.rev}`;
    const tr = row([when(c.corrected_unix), c.author, clock(starts.get(c.segment) ?? 0), outcome, before, after, c.note]);
    tr.dataset.segment = c.segment;
    tr.dataset.outcome = c.outcome;
    return tr;
  }));
}

async function openSession(id, focus = null) {
  try {
    const [detail, report] = await Promise.all([
      api(`/api/sessions/${id}`), api(`/api/sessions/${id}/quality`),
    ]);
    current = id;
    const { session, segments, flags, corrections } = detail;
    $("session-title").textContent = `Room ${session.room}, ${when(session.started_unix)} (${session.engine})`;
    exportLinks();
    shown = { segments, flagged: new Set(flags.map((f) => f.segment)) };
    showTranscript();
    showHistory(corrections ?? [], segments);
    describe(report);
    $("session").hidden = false;
    status(`Session ${id.slice(0, 8)}: ${segments.length} caption(s)`);
    if (focus) {
      const again = [...document.querySelectorAll("#transcript tbody tr")].find((tr) => tr.dataset.segment === focus);
      again?.querySelector("button.edit")?.focus();
    }
  } catch (error) {
    status(`Could not open the session: ${error.message}`);
  }
}

$("order").addEventListener("change", showTranscript);
$("export-original").addEventListener("change", exportLinks);
$("filter").addEventListener("submit", (e) => { e.preventDefault(); listSessions(); });
$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("query").value.trim();
  if (text) search(text);
});
$("delete").addEventListener("click", async () => {
  if (!current || !confirm("Delete this session and all its captions?")) return;
  try {
    await api(`/api/sessions/${current}`, { method: "DELETE" });
    $("session").hidden = true;
    current = null;
    await listSessions();
    status("Session deleted");
  } catch (error) {
    status(`Could not delete: ${error.message}`);
  }
});
listSessions();

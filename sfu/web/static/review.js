// Caption review: sessions, search, one session's transcript, quality and exports.
// Every value from the server is inserted as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; };

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || `${response.status} ${response.statusText}`);
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
      const tr = row([s.room, when(s.started_unix), when(s.ended_unix), s.segments, s.flags, s.engine]);
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

let current = null;

async function openSession(id) {
  try {
    const [detail, report] = await Promise.all([
      api(`/api/sessions/${id}`), api(`/api/sessions/${id}/quality`),
    ]);
    current = id;
    const { session, segments, flags } = detail;
    $("session-title").textContent = `Room ${session.room}, ${when(session.started_unix)} (${session.engine})`;
    for (const link of $("exports").querySelectorAll("a[data-format]")) {
      link.href = `/api/sessions/${id}/export.${link.dataset.format}`;
    }
    const flagged = new Set(flags.map((f) => f.segment));
    const body = $("transcript").querySelector("tbody");
    body.replaceChildren();
    for (const s of segments) {
      const tr = row([clock(s.start), s.speaker_name || "—", s.text]);
      if (flagged.has(s.segment)) {
        tr.className = "flagged";
        tr.title = "Flagged as wrong by a participant";
      }
      body.append(tr);
    }
    describe(report);
    $("session").hidden = false;
    status(`Session ${id.slice(0, 8)}: ${segments.length} caption(s)`);
  } catch (error) {
    status(`Could not open the session: ${error.message}`);
  }
}

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

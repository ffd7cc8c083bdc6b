// The human captioner's page (README, "A human captioner"): join a room as a listener to hear
// it, type lines that reach every participant as captions marked as a human captioner's, and
// choose whether they replace the automatic captions or come beside them.
//
// Lines go to POST /api/rooms/ROOM/captions with a sequence number: a line that failed on the
// network is sent again with the same number, and the server shows it once. Numbers start from
// the time the page opened, so that a reloaded page never reuses one.

import { Connection, State } from "./connection.js";
import { errorSentence } from "./messages.js";
import { tokenClaims } from "./signin.js";

const $ = (id) => document.getElementById(id);
const KEPT_CAPTIONS = 8;
const RETRIES = 3;

const page = { connection: null, room: "", token: "", seq: Date.now(), segments: new Map() };

function api(path, method, body) {
  return fetch(`/api/rooms/${encodeURIComponent(page.room)}/${path}`, {
    method,
    headers: { Authorization: `Bearer ${page.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function answer(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.message || response.statusText), { status: response.status });
  return body;
}

// --- joining ------------------------------------------------------------------------------------

function join(event) {
  event.preventDefault();
  if (!$("join-form").reportValidity()) return;
  page.room = $("room").value.trim();
  page.token = $("token").value.trim();
  hideError();
  setJoined(true);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  page.connection = new Connection({
    url: `${scheme}://${location.host}/ws`,
    join: { room: page.room, name: $("name").value.trim(), token: page.token, subtitles: true },
    track: null,  // listen only: the captioner's microphone is not the room's business
    events: { onState, onJoined, onSignal() {}, onError, onChannelMessage, onTrack },
  });
  page.connection.start();
}

function leave() {
  page.connection?.leave();
  page.connection = null;
  $("remote-audio").replaceChildren();
  setJoined(false);
}

function setJoined(joined) {
  $("join").disabled = joined;
  $("leave").disabled = !joined;
  for (const id of ["room", "name", "token"]) $(id).disabled = joined;
  $("captioning").hidden = !joined;
  $("line").disabled = !joined;
}

function onState(state) {
  const text = {
    [State.IDLE]: "Not connected",
    [State.CONNECTING]: "Connecting…",
    [State.IN_ROOM]: `Listening to room ${page.room}`,
    [State.RECONNECTING]: "Reconnecting…",
    [State.DISCONNECTED]: "Not connected",
  }[state];
  $("status").textContent = text;
  $("status").dataset.state = state;
  if (state === State.DISCONNECTED && page.connection) setJoined(false);
}

async function onJoined() {
  try {
    showMode((await answer(await api("captioner", "GET"))).mode);
  } catch (error) {
    showError(`Your token does not let you caption this room: ${error.message}`);
  }
  $("line").focus();
}

function onError(message) {
  showError(errorSentence(message.code, message.ref));
}

function onTrack(event) {
  const audio = document.createElement("audio");
  audio.autoplay = true;
  audio.srcObject = event.streams[0] || new MediaStream([event.track]);
  $("remote-audio").append(audio);
  event.track.addEventListener("ended", () => audio.remove());
}

/** The room's captions, as participants see them by default: the captioner's reference. */
function onChannelMessage(message) {
  if (message.type === "status" && message.human) showMode(message.human.mode);
  if (message.type !== "caption" || typeof message.text !== "string") return;
  let item = page.segments.get(message.segment);
  if (!item) {
    item = document.createElement("li");
    page.segments.set(message.segment, item);
    $("room-captions").append(item);
    while (page.segments.size > KEPT_CAPTIONS) {
      const [oldest, element] = page.segments.entries().next().value;
      element.remove();
      page.segments.delete(oldest);
    }
  }
  item.dataset.source = message.source === "human" ? "human" : "automatic";
  item.textContent = message.text;
  if (message.final && !message.text) item.remove();
}

// --- mode ---------------------------------------------------------------------------------------

function showMode(mode) {
  for (const input of document.querySelectorAll("input[name=mode]")) input.checked = input.value === mode;
}

async function changeMode(event) {
  try {
    showMode((await answer(await api("captioner", "PUT", { mode: event.target.value }))).mode);
  } catch (error) {
    showError(`The mode could not be changed: ${error.message}`);
  }
}

// --- lines --------------------------------------------------------------------------------------

function sendLine(event) {
  event.preventDefault();
  const text = $("line").value.trim();
  if (!text) return;
  $("line").value = "";
  page.seq += 1;
  const item = document.createElement("li");
  item.dataset.seq = String(page.seq);
  item.dataset.state = "pending";
  item.textContent = text;
  $("sent").prepend(item);
  deliver(item, { seq: page.seq, text }, 0);
}

async function deliver(item, line, attempt) {
  try {
    const reply = await answer(await api("captions", "POST", line));
    item.dataset.state = "sent";
    if (reply.late) item.title = "Shown after a later line";
  } catch (error) {
    const network = error.status === undefined;
    if ((network || error.status === 429) && attempt < RETRIES) {  // the same seq: shown once
      setTimeout(() => deliver(item, line, attempt + 1), 500 * 2 ** attempt);
      return;
    }
    item.dataset.state = "failed";
    const why = document.createElement("span");
    why.className = "why";
    why.textContent = `not sent: ${error.message}`;
    item.append(why);
  }
}

// --- messages -----------------------------------------------------------------------------------

function showError(sentence) {
  $("error").textContent = sentence;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function prefill() {
  const params = new URLSearchParams(location.search);
  if (params.get("room")) $("room").value = params.get("room").slice(0, 64);
  if (params.get("token")) $("token").value = params.get("token").slice(0, 4096);
  const claims = $("token").value ? tokenClaims($("token").value) : null;
  if (claims?.name && !$("name").value) $("name").value = String(claims.name).slice(0, 64);
}

$("join-form").addEventListener("submit", join);
$("leave").addEventListener("click", leave);
$("line-form").addEventListener("submit", sendLine);
for (const input of document.querySelectorAll("input[name=mode]")) input.addEventListener("change", changeMode);
prefill();

// Test and tool hook (docs/protocol-notes.md, "Page hooks"): the room's audio as this page
// receives it, in packets (the captioner must hear what it captions).
window.captioner = {
  async inboundAudioPackets() {
    const pc = page.connection?.pc;
    if (!pc) return 0;
    let packets = 0;
    for (const s of (await pc.getStats()).values()) {
      if (s.type === "inbound-rtp" && s.kind === "audio") packets += s.packetsReceived ?? 0;
    }
    return packets;
  },
};

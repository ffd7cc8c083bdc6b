// Participant page: protocol v1 (signaling on /ws, captions on the `captions` data channel).
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_FINAL_LINES = 6;  // finals kept on screen; older ones scroll away

let ws = null;
let pc = null;
let channel = null;
let lastFinal = null;  // segment id of the last final caption shown, for `flag`
let me = null;
const partials = new Map();  // segment id -> {rev, element}
const participants = new Map();

function setStatus(text) { $("status").textContent = text; }

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function waitForIce(peer) {
  // No trickle ICE in protocol v1: gather fully before sending SDP.
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (peer.iceGatheringState === "complete") {
        peer.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
    };
    peer.addEventListener("icegatheringstatechange", check);
  });
}

function renderParticipants() {
  const list = $("participants");
  list.replaceChildren();
  const names = [me ? `${me.name} (you)` : null, ...participants.values()].filter(Boolean);
  for (const name of names) {
    const item = document.createElement("li");
    item.textContent = name;
    list.append(item);
  }
}

function captionElement(caption) {
  const p = document.createElement("p");
  p.dataset.segment = caption.segment;
  if (caption.speaker) {
    const who = document.createElement("span");
    who.className = "speaker";
    who.textContent = `${caption.speaker.name}:`;
    p.append(who);
  }
  p.append(document.createTextNode(caption.text));
  return p;
}

function showCaption(caption) {
  const known = partials.get(caption.segment);
  if (known && caption.rev <= known.rev) return;  // stale or duplicate update
  if (known) known.element.remove();
  partials.delete(caption.segment);
  if (caption.final) {
    if (!caption.text) return;  // an empty final withdraws the segment's partial text
    lastFinal = caption.segment;
    $("flag").disabled = false;
    const finals = $("captions-final");
    finals.append(captionElement(caption));
    while (finals.children.length > MAX_FINAL_LINES) finals.firstElementChild.remove();
  } else {
    const element = captionElement(caption);
    $("captions-partial").append(element);
    partials.set(caption.segment, { rev: caption.rev, element });
  }
}

function onChannelMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  if (message.type === "caption") showCaption(message);
  else if (message.type === "status") {
    setStatus(`In room ${me.room} · captions ${message.subtitles ? "on" : "off"} · ${message.engine} (${message.state})`);
  }
}

function onTrack(event) {
  const audio = document.createElement("audio");
  audio.autoplay = true;
  audio.srcObject = event.streams[0] || new MediaStream([event.track]);
  $("remote-audio").append(audio);
  event.track.addEventListener("ended", () => audio.remove());
}

async function onSignal(message) {
  switch (message.type) {
    case "joined":
      me = { id: message.participant, room: message.room, name: $("name").value.trim() };
      for (const p of message.participants) participants.set(p.id, p.name);
      renderParticipants();
      await startMedia();
      break;
    case "answer":
      await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      break;
    case "offer":
      await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await waitForIce(pc);
      send({ type: "answer", sdp: pc.localDescription.sdp });
      break;
    case "participant-joined":
      participants.set(message.participant.id, message.participant.name);
      renderParticipants();
      break;
    case "participant-left":
      participants.delete(message.participant.id);
      renderParticipants();
      break;
    case "error":
      setStatus(`Error (${message.code}): ${message.message}`);
      break;
  }
}

async function startMedia() {
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.ontrack = onTrack;
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  const transceiver = pc.addTransceiver("audio", { direction: "sendrecv" });
  await transceiver.sender.replaceTrack(stream.getAudioTracks()[0]);
  channel = pc.createDataChannel("captions");
  channel.onmessage = onChannelMessage;
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIce(pc);
  send({ type: "offer", sdp: pc.localDescription.sdp });
  setStatus(`In room ${me.room}`);
}

function join(event) {
  event.preventDefault();
  const room = $("room").value.trim();
  const name = $("name").value.trim();
  if (!room || !name) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws`);
  // Signaling messages are handled one at a time, in order: an offer may follow an answer at once.
  let queue = Promise.resolve();
  ws.onmessage = (event) => {
    queue = queue.then(() => onSignal(JSON.parse(event.data))).catch((error) => {
      console.error("signaling failed", error);
      setStatus(`Error: ${error}`);
    });
  };
  ws.onopen = () => send({ type: "join", v: 1, room, name, token: "", subtitles: $("subtitles").checked });
  ws.onclose = () => { setStatus("Disconnected"); teardown(); };
  $("join").disabled = true;
  $("leave").disabled = false;
  setStatus("Joining…");
}

function teardown() {
  if (pc) pc.close();
  pc = null; channel = null; me = null;
  participants.clear();
  partials.clear();
  renderParticipants();
  $("remote-audio").replaceChildren();
  $("join").disabled = false;
  $("leave").disabled = true;
}

function leave() {
  send({ type: "leave" });
  if (ws) ws.close();
}

$("join-form").addEventListener("submit", join);
$("leave").addEventListener("click", leave);
$("flag").addEventListener("click", () => {
  if (!channel || channel.readyState !== "open" || !lastFinal) return;
  // `flag` is a v1 extension (docs/protocol-notes.md): reviewers see it in the quality report.
  channel.send(JSON.stringify({ type: "flag", segment: lastFinal }));
  $("flag").disabled = true;
  setStatus("Thank you: the last caption was flagged for review");
});
$("subtitles").addEventListener("change", (event) => {
  send({ type: "subtitles", enabled: event.target.checked });
  if (!event.target.checked) { partials.forEach((p) => p.element.remove()); partials.clear(); }
});

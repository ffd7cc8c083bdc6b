// Participant page: composes the connection, the microphone, the caption display, the transcript,
// the participant list, the tiles and sync mode. Protocol v1: signaling on /ws, captions on the `captions` data channel.
// Hooks for tests and tools are listed in docs/protocol-notes.md ("Page hooks").

import { CaptionView, SegmentBook, isCaption } from "./captions.js";
import { Connection, State } from "./connection.js";
import { errorSentence, microphoneSentence } from "./messages.js";
import { Microphone } from "./microphone.js";
import { Roster } from "./participants.js";
import { applySettings, loadSettings, saveSettings } from "./settings.js";
import { Transcript } from "./transcript.js";
import { FlagDialog } from "./flag.js";
import { missingFeatures, supportSentence } from "./support.js";
import { HumanCaptions, isHuman } from "./human.js";
import { renderCaptionText } from "./uncertain.js";
import { Tiles } from "./tiles.js";
import { SyncMode } from "./sync.js";
import * as video from "./video.js";

const $ = (id) => document.getElementById(id);

const STATE_TEXT = {
  [State.IDLE]: () => "Not connected",
  [State.CONNECTING]: () => "Connecting…",
  [State.IN_ROOM]: () => `In room ${meeting.room}`,
  [State.RECONNECTING]: (d) => d.delay
    ? `Reconnecting: connection lost, trying again in ${Math.ceil(d.delay / 1000)} s (attempt ${d.attempt})…`
    : `Reconnecting (attempt ${d.attempt})…`,
  [State.DISCONNECTED]: (d) => d.reason === "left"
    ? "Not connected: you left the meeting"
    : "Not connected: the server did not let you in (see the message below)",
};

const settings = loadSettings();
const meeting = {
  connection: null, microphone: null, lastTrack: null, camera: null, cameraChosen: false, screen: null, media: new Map(), sources: new Map(), sections: null, lastState: State.IDLE, room: "", clockOrigin: 0, session: 0, book: new SegmentBook(),
};
const tiles = new Tiles({
  list: $("tiles"), renderText: (element, caption) => renderCaptionText(element, caption, settings.underlineUncertain),
  onPin: (key) => emit("pin", { pinned: key }),
  pager: { nav: $("pager"), previous: $("page-previous"), next: $("page-next"), label: $("page-number") },
  // A page holds what fits without scrolling (3×3 beside the captions, 2×2 on a phone), or what
  // the person chose (fewer, larger tiles: for lip-reading).
  pageSize: () => settings.tilesPerPage === "auto"
    ? (window.matchMedia("(max-width: 600px)").matches ? 4 : 9) : Number(settings.tilesPerPage),
  onView: (view) => {
    // Whose cameras the server forwards first (docs/protocol-notes.md, "Which cameras").
    meeting.connection?.send({ type: "view", ...view });
    emit("view", view);
  },
});
const roster = new Roster({
  list: $("participants"), events: $("events"), onChange: () => tiles.update(roster.snapshot()),
});
const sync = new SyncMode({
  output: $("sync-state"), receivers: () => meeting.connection?.pc?.getReceivers() ?? [],
});
const view = new CaptionView({
  area: $("caption-area"), lines: $("captions"), live: $("captions-live"),
  labelOf: (speaker) => roster.label(speaker), onPick: (segment) => pickOnScreen(segment),
  renderText: (element, caption) => renderCaptionText(element, caption, settings.underlineUncertain),
});
const transcript = new Transcript({
  list: $("transcript"), search: $("transcript-search"), count: $("transcript-count"),
  onFlag: (entry) => flagDialog.open(entry, transcript.recent(meeting.session, 5)),
});
const human = new HumanCaptions({
  notice: $("human-captioner"), select: $("caption-sources"), field: $("caption-sources-field"),
  choice: settings.captionSources, onChoice: (choice) => changeSetting("captionSources", choice),
  send: (message) => meeting.connection?.sendChannel(message) ?? false,
});
const flagDialog = new FlagDialog({
  dialog: $("flag-dialog"), choices: $("flag-choices"), reason: $("flag-reason"), result: $("flag-result"),
  send: (message) => meeting.connection?.sendChannel(message) ?? false,
});

// --- page events, for tests and tools (docs/protocol-notes.md) ------------------------------------

function emit(name, detail) {
  document.dispatchEvent(new CustomEvent(`livecaptions:${name}`, { detail }));
}

// --- connection ---------------------------------------------------------------------------------

function onState(state, detail) {
  if (state === State.DISCONNECTED && detail.reason !== "left") endMeeting();  // refused: fix and retry
  const text = STATE_TEXT[state](detail);
  for (const element of [$("status"), $("caption-state")]) {
    element.textContent = text;
    element.dataset.state = state;
  }
  emit("state", { state, ...detail });
}

function onJoined(joined, session) {
  meeting.room = joined.room;
  meeting.clockOrigin = joined.clock_origin;
  meeting.session = session;
  meeting.sections = null;
  meeting.book = new SegmentBook();
  view.clear();
  tiles.clear();
  sync.reset();
  roster.reset({ id: joined.participant, name: meeting.connection.join.name }, joined.participants);
  roster.announce(session === 1 ? `You joined room ${joined.room}` : `You are back in room ${joined.room}`);
  showLocalVideo();
  transcript.startedAt(Date.now() / 1000);
  transcript.setSession(session);
  showLanguages(joined.languages);
  hideError();
  emit("joined", { ...joined, session });
}

function onSignal(message) {
  if (message.type === "participant-joined") roster.joined(message.participant);
  else if (message.type === "participant-left") {
    roster.left(message.participant);
    video.detachParticipant($("tiles"), message.participant.id);
  } else if (message.type === "participants") {  // joins and leaves in a batch (we asked: join)
    roster.changed(message.joined, message.left);
    for (const person of message.left) video.detachParticipant($("tiles"), person.id);
  } else if (message.type === "participant-media") {
    meeting.media.set(message.participant, message);
    video.applyMediaState($("tiles"), message);
    tiles.setMediaState(message);
    tiles.adopt();
    emit("media", message);
  } else if (message.type === "video-sections") {
    meeting.sections = video.sectionsOf(message);
    if (meeting.connection?.pc) onRemoteMedia(meeting.connection.pc);
    emit("video-sections", message);
  }
}

/** The server's SDP changed: its forwarded video sections are shown as <video> elements. */
function onRemoteMedia(pc) {
  // video.js keeps the elements under #tiles; the tiles take each into its person's tile.
  video.syncRemoteVideo($("tiles"), pc, meeting.sections);
  for (const state of meeting.media.values()) video.applyMediaState($("tiles"), state);
  tiles.adopt();
  const sections = meeting.sections && [...meeting.sections.values()];
  tiles.setForwarded(sections && new Set(sections.filter((s) => s.source === "camera").map((s) => s.participant)));
  sync.apply();  // receivers added by this negotiation are held back like the others
}

function onError(message) {
  const sentence = errorSentence(message.code, message.ref);
  if (message.ref === "flag") flagDialog.failed(sentence);
  else showError(sentence, message.code);
  emit("error", message);
}

function onChannelMessage(message, session) {
  if (message.type === "caption" && isCaption(message)) onCaption(message, session);
  else if (message.type === "status") {
    showEngineState(message);
    human.onStatus(message);
    sync.observeStatus(message);
    emit("status", message);
  }
}

function onCaption(caption, session) {
  const receivedAt = Date.now() / 1000;
  if (!settings.subtitles || !meeting.book.accept(caption)) return;
  view.show(caption);
  if (caption.text) sync.observeLag(receivedAt - (meeting.clockOrigin + caption.end));
  if (caption.speaker) roster.speaking(caption.speaker.id);
  if (settings.captionsUnderTiles && caption.speaker && !isHuman(caption)) tiles.caption(caption.speaker.id, caption);
  if (caption.final && caption.text) {
    const label = isHuman(caption) ? "Captioner" : caption.speaker ? roster.label(caption.speaker) : "";
    transcript.add(caption, meeting.clockOrigin, session, label);
  }
  emit("caption", { caption, receivedAt, clockOrigin: meeting.clockOrigin });
}

function onTrack(event) {
  if (event.track.kind === "video") return;  // shown by onRemoteMedia, by mid (video.js)
  // The server names the source participant as the msid stream id (docs/protocol-notes.md).
  const source = event.streams[0]?.id ?? "";
  meeting.sources.set(event.track.id, source);
  const audio = document.createElement("audio");
  audio.dataset.participant = source;
  audio.autoplay = true;
  audio.srcObject = event.streams[0] || new MediaStream([event.track]);
  $("remote-audio").append(audio);
  event.track.addEventListener("ended", () => audio.remove());
  sync.apply();  // a receiver added later is held back like the others
}

const REMOTE_SPEAKING_LEVEL = 0.02;  // inbound-rtp audioLevel (0..1) of speech, above line noise

/** Who is speaking, from the level of each participant's forwarded audio as this browser decodes it. */
async function markRemoteSpeakers() {
  const pc = meeting.connection?.pc;
  if (!pc) return;
  for (const s of (await pc.getStats()).values()) {
    const source = s.type === "inbound-rtp" && s.kind === "audio" && meeting.sources.get(s.trackIdentifier);
    if (source && (s.audioLevel ?? 0) >= REMOTE_SPEAKING_LEVEL) roster.speaking(source);
  }
}

function showEngineState(status) {
  const notice = $("engine-state");
  notice.hidden = status.state === "ok";
  // `delay` (docs/protocol-notes.md): captions are this many seconds behind speech.
  const late = typeof status.delay === "number"
    ? `Captions are delayed by about ${Math.max(1, Math.round(status.delay))} s: the caption service is overloaded.`
    : "Captions are running late: the caption service is overloaded.";
  notice.textContent = status.state === "ok" ? "" : status.state === "degraded"
    ? late
    : "Captions are not available right now: the caption service is down. Audio still works.";
  notice.dataset.delay = typeof status.delay === "number" ? String(status.delay) : "";
}

// --- joining and leaving ------------------------------------------------------------------------

async function join(event) {
  event.preventDefault();
  const room = $("room").value.trim();
  const name = $("name").value.trim();
  if (!$("join-form").reportValidity() || !room || !name) return;
  setJoined(true);
  hideError();
  // "Without microphone" is about sound only: a signer who does not speak still shows a camera.
  const microphone = $("listen-only").checked ? null : await openMicrophone();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  // features: joins and leaves come batched in `participants` messages (docs/protocol-notes.md).
  const fields = {
    room, name, token: $("token").value, subtitles: settings.subtitles, features: ["participants"],
  };
  if ($("language").value) fields.language = $("language").value;
  // The camera and screen sections are offered whatever the checkbox says (a camera turned on
  // later renegotiates nothing); a token without `publish` sends nothing, the server sees to it.
  const connection = new Connection({
    url: `${scheme}://${location.host}/ws`, join: fields, track: microphone?.track ?? null,
    video: true, camera: null,
    events: { onState, onJoined, onSignal, onError, onChannelMessage, onTrack, onRemoteMedia },
  });
  meeting.connection = connection;
  connection.start();
  // Not awaited before joining: a camera prompt left unanswered must not keep anyone out of the
  // room (sound and captions first; the picture follows when the prompt is answered).
  if ($("camera").checked) startCamera(connection);
}

/** Open the camera for `connection`'s meeting and send it, or say why there is none. */
async function startCamera(connection) {
  const track = await video.openCamera();
  if (meeting.connection !== connection || !$("camera").checked) {
    track?.stop();  // left, or the camera was turned off, while the prompt was open
    return;
  }
  if (!track) {
    $("camera").checked = false;
    // After, not instead of, what was said of the microphone.
    const before = $("notice").hidden ? "" : `${$("notice").textContent} `;
    showNotice(`${before}The camera could not be opened: the others see your name instead.`);
    return;
  }
  meeting.camera = track;
  showLocalVideo();
  await connection.setCamera(track);
}

async function openMicrophone(deviceId = "") {
  try {
    const microphone = await Microphone.open(deviceId);
    useMicrophone(microphone);
    await listDevices();
    return microphone;
  } catch (error) {
    showNotice(microphoneSentence(error));
    return null;
  }
}

function useMicrophone(microphone) {
  meeting.microphone = microphone;
  meeting.lastTrack = microphone.track;
  microphone.setMuted($("mute").getAttribute("aria-pressed") === "true");
  microphone.watch((level, speaking) => {
    $("level").value = level;
    $("speaking").dataset.speaking = String(speaking);
    $("speaking").textContent = microphone.muted ? "Muted" : speaking ? "Speaking" : "Not speaking";
    roster.setSelfSpeaking(speaking);
  });
  $("microphone").hidden = false;
}

async function listDevices() {
  const select = $("device");
  const current = meeting.microphone?.deviceId ?? "";
  const inputs = await Microphone.inputs();
  select.replaceChildren(...inputs.map((device, i) => new Option(device.label || `Microphone ${i + 1}`, device.deviceId)));
  select.value = current;
}

async function changeDevice() {
  const previous = meeting.microphone;
  try {
    const microphone = await Microphone.open($("device").value);
    previous?.stop();
    useMicrophone(microphone);
    await meeting.connection?.setTrack(microphone.track);
  } catch (error) {
    showNotice(`That microphone could not be opened (${error.name}); the previous one stays in use.`);
    if (previous) $("device").value = previous.deviceId;
  }
}

function leave() {
  meeting.connection?.leave();
  endMeeting();
}

/** Your own camera and screen in your own tiles, as the others see them. */
function showLocalVideo() {
  const me = roster.me?.id;
  const pressed = Boolean(meeting.screen);
  $("screen").setAttribute("aria-pressed", String(pressed));
  $("screen").textContent = pressed ? "Stop sharing" : "Share screen";
  if (!me) return;
  for (const [source, track] of [["camera", meeting.camera], ["screen", meeting.screen]]) {
    if (!track || track.readyState !== "live") {
      tiles.detach(me, source);
      continue;
    }
    if (tiles.shows(me, source, track)) continue;
    const video = document.createElement("video");
    video.dataset.participant = me;
    video.dataset.source = source;
    video.dataset.local = "true";  // a preview: the others' videos have no data-local
    video.autoplay = true;
    video.srcObject = new MediaStream([track]);
    tiles.attach(video);
  }
  tiles.setCamera(me, Boolean(meeting.camera));
}

/** Back to the form: the microphone stopped, the room's audio and captions gone. */
function endMeeting() {
  meeting.lastState = State.DISCONNECTED;
  meeting.connection = null;
  meeting.microphone?.stop();  // the browser stops recording: its microphone light goes off
  meeting.microphone = null;
  meeting.camera?.stop();
  meeting.camera = null;
  meeting.screen?.stop();
  meeting.screen = null;
  meeting.media.clear();
  meeting.sections = null;
  $("screen").disabled = true;
  showLocalVideo();
  $("microphone").hidden = true;
  $("remote-audio").replaceChildren();
  view.clear();
  roster.clear();
  tiles.clear();
  human.reset();
  flagDialog.close();
  setJoined(false);
}

function setJoined(joined) {
  $("stage").hidden = !joined;
  $("join").disabled = joined;
  $("leave").disabled = !joined;
  $("screen").disabled = !joined;
  for (const id of ["room", "name", "token", "language", "listen-only"]) $(id).disabled = joined;
  $("flag").disabled = !joined;
}

// --- captions, settings, shortcuts --------------------------------------------------------------

// --- camera and screen --------------------------------------------------------------------------

/** The #camera checkbox during a meeting: camera on or off, no renegotiation. */
async function toggleCamera() {
  meeting.cameraChosen = true;  // the person's choice: the device check on load keeps off it
  const connection = meeting.connection;
  if (!connection) return;
  if ($("camera").checked) {
    meeting.camera = await video.openCamera();
    if (!meeting.camera) $("camera").checked = false;
  } else {
    meeting.camera?.stop();
    meeting.camera = null;
  }
  showLocalVideo();
  await connection.setCamera(meeting.camera);
}

/** The #screen button: share a screen, or stop sharing it. */
async function toggleScreen() {
  const connection = meeting.connection;
  if (!connection) return;
  if (meeting.screen) {
    meeting.screen.stop();
    meeting.screen = null;
  } else {
    meeting.screen = await video.openScreen();
    // The browser's own "Stop sharing" ends the track: the others are told at once.
    meeting.screen?.addEventListener("ended", () => { if (meeting.screen) toggleScreen(); });
  }
  showLocalVideo();  // also says on the button whether a screen is shared
  await connection.setScreen(meeting.screen);
}

function setSubtitles(enabled) {
  settings.subtitles = enabled;
  saveSettings(settings);
  $("subtitles").checked = enabled;
  $("caption-area").hidden = !enabled;
  if (!enabled) {  // off means off at once: nothing stays on screen
    view.clear();
    tiles.clearCaptions();
  }
  meeting.connection?.send({ type: "subtitles", enabled });
}

function changeSetting(key, value) {
  settings[key] = value;
  saveSettings(settings);
  applySettings($("caption-area"), settings);
  if (key === "captionsUnderTiles" && !value) tiles.clearCaptions();
  if (key === "syncMode") sync.setEnabled(value);
  if (key === "tilesPerPage") tiles.turnPage(0);
}

function pickOnScreen(segment) {
  const entry = transcript.find(segment, meeting.session);
  if (entry) flagDialog.open(entry, transcript.recent(meeting.session, 5));
}

function flagFromScreen() {
  const recent = transcript.recent(meeting.session, 5);
  const onScreen = view.finalsOnScreen().map((e) => transcript.find(e.dataset.segment, meeting.session));
  const picked = onScreen.filter(Boolean).at(-1) ?? recent.at(-1);
  if (picked) flagDialog.open(picked, recent);
  else flagDialog.failed("There is no caption to flag yet.");
}

function toggleMute() {
  const muted = $("mute").getAttribute("aria-pressed") !== "true";
  $("mute").setAttribute("aria-pressed", String(muted));
  $("mute").textContent = muted ? "Unmute" : "Mute";
  meeting.microphone?.setMuted(muted);
}

const NOT_TEXT = new Set(["checkbox", "radio", "button", "submit", "reset", "range", "color"]);

/** Whether keys typed now are text (a single-key shortcut must not steal them). */
function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target instanceof HTMLInputElement) return !NOT_TEXT.has(target.type);
  return target.isContentEditable || ["TEXTAREA", "SELECT"].includes(target.tagName);
}

function onKey(event) {
  // Ctrl+D / Cmd+D mutes, as in Google Meet; C toggles subtitles, as in video players.
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "d") {
    event.preventDefault();
    if (meeting.microphone) toggleMute();
  } else if (!event.ctrlKey && !event.metaKey && !event.altKey && event.key.toLowerCase() === "c" && !typing(event.target)) {
    setSubtitles(!settings.subtitles);
  }
}

// --- messages on the page -----------------------------------------------------------------------

function showError(sentence, code) {
  $("error").textContent = sentence;
  $("error").dataset.code = code;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
}

function showLanguages(codes) {
  if (!Array.isArray(codes) || !codes.length) return;
  const names = new Intl.DisplayNames([navigator.language || "en"], { type: "language" });
  const select = $("language");
  const chosen = select.value;
  const options = codes.filter((c) => typeof c === "string").map((code) => {
    let name = code;
    try { name = names.of(code) ?? code; } catch { /* not a known tag: show the code */ }
    return new Option(`${name} (${code})`, code);
  });
  select.replaceChildren(new Option("Automatic", ""), ...options);
  select.value = codes.includes(chosen) ? chosen : "";
}

// --- start --------------------------------------------------------------------------------------

/** Say what this browser cannot do (support.js); without WebRTC, joining is not offered. */
function checkSupport() {
  const support = missingFeatures();
  $("support").textContent = supportSentence(support);
  $("support").hidden = !support.losses.length;
  if (!support.canJoin) $("join").disabled = true;
}

function prefill() {
  const params = new URLSearchParams(location.search);
  const room = params.get("room");
  const token = params.get("token");
  if (room) $("room").value = room.slice(0, 64);
  if (token) $("token").value = token.slice(0, 4096);
  $("subtitles").checked = settings.subtitles;
  $("caption-area").hidden = !settings.subtitles;
  $("language").value = settings.language;
  $("caption-size").value = settings.size;
  $("caption-colors").value = settings.colors;
  $("caption-position").value = settings.position;
  $("tiles-per-page").value = settings.tilesPerPage;
  $("underline-uncertain").checked = settings.underlineUncertain;
  $("captions-under-tiles").checked = settings.captionsUnderTiles;
  $("sync-mode").checked = settings.syncMode;
  sync.setEnabled(settings.syncMode);
  applySettings($("caption-area"), settings);
  if (room && token) {
    showNotice(`You are invited to room ${$("room").value}: enter your name and select Join.`);
    $("name").focus();
  }
}

$("join-form").addEventListener("submit", join);
$("leave").addEventListener("click", leave);
$("mute").addEventListener("click", toggleMute);
$("camera").addEventListener("change", toggleCamera);
$("screen").addEventListener("click", toggleScreen);
video.hasCamera().then((has) => {
  if (!meeting.connection && !meeting.cameraChosen) $("camera").checked = has;
  $("camera").dataset.ready = "true";  // a hook: the default is set
});
$("device").addEventListener("change", changeDevice);
$("flag").addEventListener("click", flagFromScreen);
$("subtitles").addEventListener("change", (event) => setSubtitles(event.target.checked));
$("language").addEventListener("change", (event) => changeSetting("language", event.target.value));
$("caption-size").addEventListener("change", (event) => changeSetting("size", event.target.value));
$("caption-colors").addEventListener("change", (event) => changeSetting("colors", event.target.value));
$("caption-position").addEventListener("change", (event) => changeSetting("position", event.target.value));
$("tiles-per-page").addEventListener("change", (event) => changeSetting("tilesPerPage", event.target.value));
$("underline-uncertain").addEventListener("change", (event) => changeSetting("underlineUncertain", event.target.checked));
$("captions-under-tiles").addEventListener("change", (event) => changeSetting("captionsUnderTiles", event.target.checked));
$("sync-mode").addEventListener("change", (event) => changeSetting("syncMode", event.target.checked));
$("download-text").addEventListener("click", () => transcript.downloadText(meeting.room || "meeting"));
$("download-vtt").addEventListener("click", () => transcript.downloadVTT(meeting.room || "meeting"));
document.addEventListener("keydown", onKey);
window.matchMedia("(max-width: 600px)").addEventListener("change", () => tiles.turnPage(0));
// The page keeps room for the fixed caption area (style.css), so that it never covers a control.
if (typeof ResizeObserver === "function") {
  new ResizeObserver(([entry]) => {
    document.documentElement.style.setProperty("--caption-space", `${Math.ceil(entry.borderBoxSize[0].blockSize)}px`);
  }).observe($("caption-area"));
}
setInterval(() => { roster.tick(); tiles.tick(); markRemoteSpeakers(); }, 500);
prefill();
checkSupport();

// Test and tool hook (docs/protocol-notes.md): packets received per remote audio track.
window.livecaptions = {
  async inboundAudio() {
    const pc = meeting.connection?.pc;
    if (!pc) return [];
    const stats = await pc.getStats();
    return [...stats.values()]
      .filter((s) => s.type === "inbound-rtp" && s.kind === "audio")
      .map((s) => ({
        mid: s.mid ?? null, participant: meeting.sources.get(s.trackIdentifier) ?? null,
        packets: s.packetsReceived ?? 0,
      }));
  },
  /** Remote video as this browser decodes it: [{mid, participant, source, framesDecoded, frameWidth}]. */
  async inboundVideo() {
    const pc = meeting.connection?.pc;
    return pc ? video.inboundVideo(pc, meeting.sections) : [];
  },
  /** The others' camera and screen state as this page last heard it, by participant id. */
  media() { return Object.fromEntries(meeting.media); },
  /** Offers the server sent this page so far (a camera toggle must not add one). */
  get offers() { return meeting.connection?.offers ?? 0; },
  /** The people in the room as this page lists them: [{id, name, label}]. */
  participants() {
    return [...roster.people.values()].map((p) => ({ id: p.id, name: p.name, label: roster.label(p) }));
  },
  /** Every receiver of the peer connection: [{kind, participant, jitterBufferTarget}] (sync mode;
   *  `jitterBufferTarget` is null where the browser lacks it or chooses by itself). */
  receivers() {
    const receivers = meeting.connection?.pc?.getReceivers() ?? [];
    return receivers.map((r) => ({
      kind: r.track?.kind ?? null, participant: meeting.sources.get(r.track?.id) ?? null,
      jitterBufferTarget: r.jitterBufferTarget ?? null,
    }));
  },
  get state() { return meeting.connection?.state ?? meeting.lastState; },
  /** Whether the last microphone the page opened still records (false once Leave stopped it). */
  get microphoneLive() { return meeting.lastTrack?.readyState === "live"; },
};

// One participant's connection to a room (protocol v1): the signaling socket, the peer connection
// and the `captions` data channel, rebuilt with backoff whenever the socket or the peer connection
// is lost, until the person leaves.

import { RETRYABLE_JOIN_ERRORS } from "./messages.js";

export const State = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  IN_ROOM: "in-room",
  RECONNECTING: "reconnecting",
  DISCONNECTED: "disconnected",
});

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
const DISCONNECTED_GRACE_MS = 4_000;  // ICE "disconnected" often heals by itself within seconds

/** Backoff before attempt `attempt` (1, 2, …): doubling, capped, with ±25 % jitter so that a
 *  restarted server is not hit by every page at the same instant. */
export function retryDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempt - 1));
  return Math.round(base * (0.75 + 0.5 * random()));
}

function waitForIce(peer) {
  // No trickle ICE in protocol v1: gather fully before sending SDP.
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (peer.iceGatheringState !== "complete") return;
      peer.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    peer.addEventListener("icegatheringstatechange", check);
  });
}

export class Connection {
  /** `join`: the join frame's fields; `track`: the microphone track or null (listen-only);
   *  `video`: offer a camera and a screen section (docs/protocol-notes.md, "Video");
   *  `camera`: the camera track or null;
   *  `events`: {onState, onJoined, onSignal, onError, onChannelMessage, onTrack, onRemoteMedia}. */
  constructor({ url, join, track, video = false, camera = null, events }) {
    this.url = url;
    this.join = join;
    this.track = track;
    this.video = video;
    this.camera = camera;
    this.screen = null;
    this.cameraSender = null;
    this.screenSender = null;
    this.events = events;
    this.state = State.IDLE;
    this.attempt = 0;
    this.session = 0;  // counts successful joins: segment ids are only valid within one
    this.ws = null;
    this.pc = null;
    this.sender = null;
    this.channel = null;
    this.stopped = false;
    this.timer = null;
  }

  start() { this.#connect(); }

  leave() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.send({ type: "leave" });
    this.ws?.close(1000);
    this.#closePeer();
    this.#setState(State.DISCONNECTED, { reason: "left" });
  }

  /** Swap the microphone (another device, or none) without renegotiating. */
  async setTrack(track) {
    this.track = track;
    if (this.sender) await this.sender.replaceTrack(track);
  }

  /** Turn the camera on (a track) or off (null) without renegotiating, and tell the others. */
  async setCamera(track) {
    this.camera = track;
    if (this.cameraSender) await this.cameraSender.replaceTrack(track);
    this.#sendMedia();
  }

  /** Share a screen (a track) or stop (null), in the section offered for it: no renegotiation. */
  async setScreen(track) {
    this.screen = track;
    if (this.screenSender) await this.screenSender.replaceTrack(track);
    this.#sendMedia();
  }

  #sendMedia() {
    if (this.video) this.send({ type: "media", camera: Boolean(this.camera), screen: Boolean(this.screen) });
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  sendChannel(message) {
    if (this.channel?.readyState !== "open") return false;
    this.channel.send(JSON.stringify(message));
    return true;
  }

  #setState(state, detail = {}) {
    this.state = state;
    this.events.onState(state, { attempt: this.attempt, ...detail });
  }

  #connect() {
    this.#setState(this.attempt === 0 ? State.CONNECTING : State.RECONNECTING);
    const ws = new WebSocket(this.url);
    this.ws = ws;
    // Signaling messages are handled one at a time, in order: an offer may follow an answer at once.
    let queue = Promise.resolve();
    ws.onopen = () => this.send({ type: "join", v: 1, ...this.join });
    ws.onmessage = (event) => {
      queue = queue.then(() => this.#onSignal(JSON.parse(event.data))).catch((error) => {
        console.error("signaling failed", error);
        this.#drop();
      });
    };
    ws.onclose = () => { if (this.ws === ws) this.#drop(); };
  }

  /** The socket or the peer connection is gone: try again later, unless the person left. */
  #drop() {
    if (this.stopped) return;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.#closePeer();
    this.attempt += 1;
    const delay = retryDelay(this.attempt);
    this.#setState(State.RECONNECTING, { delay });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#connect(), delay);
  }

  #closePeer() {
    clearTimeout(this.graceTimer);
    this.pc?.close();
    this.pc = null;
    this.sender = null;
    this.cameraSender = null;
    this.screenSender = null;
    this.channel = null;
  }

  async #onSignal(message) {
    switch (message.type) {
      case "joined": return this.#onJoined(message);
      case "answer": return this.#onAnswer(message.sdp);
      case "offer": return this.#onOffer(message.sdp);
      case "error": return this.#onError(message);
      default: return this.events.onSignal(message);
    }
  }

  async #onJoined(joined) {
    this.session += 1;
    this.events.onJoined(joined, this.session);
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.ontrack = (event) => this.events.onTrack(event);
    pc.onconnectionstatechange = () => this.#onPeerState(pc);
    // sendrecv even without a microphone: a listener may switch one on later with replaceTrack.
    const transceiver = pc.addTransceiver(this.track ?? "audio", { direction: "sendrecv" });
    this.sender = transceiver.sender;
    if (this.video) {
      // The camera's section first, then the screen's, both kept for the whole connection (the
      // order names them); turning either on or off replaces the track and renegotiates nothing.
      this.cameraSender = pc.addTransceiver(this.camera ?? "video", { direction: "sendonly" }).sender;
      this.screenSender = pc.addTransceiver(this.screen ?? "video", { direction: "sendonly" }).sender;
    }
    this.channel = pc.createDataChannel("captions");
    this.channel.onmessage = (event) => this.#onChannelMessage(event);
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc);
    this.send({ type: "offer", sdp: pc.localDescription.sdp });
    if (this.camera || this.screen) this.#sendMedia();
  }

  async #onAnswer(sdp) {
    await this.pc?.setRemoteDescription({ type: "answer", sdp });
    if (this.pc) this.events.onRemoteMedia?.(this.pc);
  }

  async #onOffer(sdp) {
    const pc = this.pc;
    if (!pc) return;
    this.offers += 1;
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.events.onRemoteMedia?.(pc);
    await waitForIce(pc);
    this.send({ type: "answer", sdp: pc.localDescription.sdp });
  }

  #onError(message) {
    this.events.onError(message);
    if (message.ref !== "join") return;
    if (RETRYABLE_JOIN_ERRORS.has(message.code)) {
      this.#drop();
      return;
    }
    // Refused for a reason the person has to fix (token, full room): stop trying.
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000);
    this.#setState(State.DISCONNECTED, { reason: message.code });
  }

  #onPeerState(pc) {
    if (pc !== this.pc) return;
    clearTimeout(this.graceTimer);
    if (pc.connectionState === "connected") {
      this.attempt = 0;
      this.#setState(State.IN_ROOM);
    } else if (pc.connectionState === "failed") {
      this.#drop();
    } else if (pc.connectionState === "disconnected") {
      this.graceTimer = setTimeout(() => this.#drop(), DISCONNECTED_GRACE_MS);
    }
  }

  #onChannelMessage(event) {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (message && typeof message === "object") this.events.onChannelMessage(message, this.session);
  }
}

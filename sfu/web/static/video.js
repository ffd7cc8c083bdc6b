// Video in the meeting, the minimal part (issue 19): this page's camera and screen, and the others'
// video as <video data-participant="ID" data-source="camera|screen"> elements. Layout (tiles, pin)
// is built on top of these elements elsewhere; the element and attribute names are page hooks
// (docs/protocol-notes.md, "Video").
//
// Which participant and which of its sources a forwarded video section carries is read from the
// server's SDP by mid (its msid: stream id = participant id, track id `camera-…` or `screen-…`),
// never from MediaStreamTrack.id or stream ids as the browser reports them: Firefox makes its own.
// Once the page has sent `view`, the server says it in `video-sections` instead (a section may
// then switch sources without an offer): `sections`, a Map mid -> {participant, source}, wins.

/** {participant, source} of each media section of `sdp`, by mid. */
export function sourcesByMid(sdp) {
  const sources = new Map();
  let mid = null;
  let kind = null;
  for (const line of (sdp ?? "").split(/\r?\n/)) {
    if (line.startsWith("m=")) { mid = null; kind = line.slice(2).split(" ")[0]; }
    else if (line.startsWith("a=mid:")) mid = line.slice(6).trim();
    else if (line.startsWith("a=msid:") && mid !== null && kind === "video") {
      const [participant, track = ""] = line.slice(7).trim().split(/\s+/);
      const source = track.split("-")[0];
      if (participant && (source === "camera" || source === "screen")) sources.set(mid, { participant, source });
    }
  }
  return sources;
}

/** The forwarded video sections `pc` receives now: [{mid, participant, source, track}]. */
export function remoteVideos(pc, sections = null) {
  const sources = sections ?? sourcesByMid(pc.remoteDescription?.sdp);
  const videos = [];
  for (const transceiver of pc.getTransceivers()) {
    const source = sources.get(transceiver.mid);
    const receiving = transceiver.currentDirection === "recvonly" || transceiver.currentDirection === "sendrecv";
    if (source && receiving && transceiver.receiver.track.kind === "video") {
      videos.push({ mid: transceiver.mid, ...source, track: transceiver.receiver.track });
    }
  }
  return videos;
}

/** Bring `container`'s <video> elements in line with what `pc` receives: one per forwarded
 *  section, keyed by mid (a section the server reuses for another source is relabelled). */
export function syncRemoteVideo(container, pc, sections = null) {
  const wanted = new Map(remoteVideos(pc, sections).map((v) => [v.mid, v]));
  for (const element of [...container.querySelectorAll("video[data-mid]")]) {
    if (!wanted.has(element.dataset.mid)) element.remove();
  }
  for (const video of wanted.values()) {
    let element = container.querySelector(`video[data-mid="${CSS.escape(video.mid)}"]`);
    if (!element) {
      element = document.createElement("video");
      element.dataset.mid = video.mid;
      element.autoplay = true;
      element.playsInline = true;
      element.muted = true;  // its sound comes in the participant's audio section
      element.srcObject = new MediaStream([video.track]);
      container.append(element);
    }
    element.dataset.participant = video.participant;
    element.dataset.source = video.source;
  }
}

/** The `video-sections` message as a Map mid -> {participant, source}. */
export function sectionsOf(message) {
  return new Map((message.sections ?? []).map((s) => [s.mid, { participant: s.participant, source: s.source }]));
}

/** Another participant's `participant-media` message: its camera or screen turned on or off. */
export function applyMediaState(container, message) {
  for (const element of container.querySelectorAll("video[data-participant]")) {
    if (element.dataset.participant !== message.participant) continue;
    const on = element.dataset.source === "screen" ? message.screen : message.camera;
    element.dataset.on = String(Boolean(on));
    element.hidden = !on;
  }
}

/** Remove the video elements of a participant who left. */
export function detachParticipant(container, participantId) {
  for (const element of container.querySelectorAll("video[data-participant]")) {
    if (element.dataset.participant === participantId) element.remove();
  }
}

/** The default camera's video track, or null (none, or refused). */
export async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) return null;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: false });
    return stream.getVideoTracks()[0] ?? null;
  } catch {
    return null;
  }
}

/** Whether this device has a camera (labels need no permission for this). */
export async function hasCamera() {
  if (!navigator.mediaDevices?.enumerateDevices) return false;
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.some((d) => d.kind === "videoinput");
}

/** A screen, window or tab to share, or null when the person cancels or the browser cannot. */
export async function openScreen() {
  if (!navigator.mediaDevices?.getDisplayMedia) return null;
  try {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    return stream.getVideoTracks()[0] ?? null;
  } catch {
    return null;
  }
}

/** Decoded-frame counts of the remote video this page receives, for tests and tools:
 *  [{mid, participant, source, framesDecoded, frameWidth}]. */
export async function inboundVideo(pc, sections = null) {
  const sources = sections ?? sourcesByMid(pc.remoteDescription?.sdp);
  // Not every browser puts `mid` in its stats; the receiver's track id leads to it too.
  const midOfTrack = new Map(pc.getTransceivers().map((t) => [t.receiver.track?.id, t.mid]));
  const stats = await pc.getStats();
  return [...stats.values()]
    .filter((s) => s.type === "inbound-rtp" && s.kind === "video")
    .map((s) => {
      const mid = s.mid ?? midOfTrack.get(s.trackIdentifier) ?? null;
      return {
        mid, ...(sources.get(mid) ?? { participant: null, source: null }),
        framesDecoded: s.framesDecoded ?? 0, frameWidth: s.frameWidth ?? 0,
      };
    });
}

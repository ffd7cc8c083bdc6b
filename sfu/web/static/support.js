// What this browser lacks of what the page uses, said in words instead of a feature that silently
// does nothing. Checked once at start; every browser we test (Chromium, Firefox ESR) has it all.

/** Each feature: whether the browser has it, and what the person loses without it. `essential`
 *  ones make joining impossible. */
const FEATURES = [
  {
    has: () => typeof RTCPeerConnection === "function" && typeof WebSocket === "function",
    loss: "join a meeting (this browser has no WebRTC)",
    essential: true,
  },
  {
    has: () => typeof navigator.mediaDevices?.getUserMedia === "function",
    loss: "use a microphone (you can listen and read the captions)",
  },
  {
    has: () => typeof AudioContext === "function",
    loss: "show your microphone level and when you are speaking",
  },
  {
    has: () => typeof HTMLDialogElement === "function",
    loss: "report a wrong caption",
  },
  {
    has: () => typeof ResizeObserver === "function",
    loss: "keep the captions from covering the page's controls",
  },
];

/** What this browser cannot do: {losses: [sentence], canJoin}. */
export function missingFeatures(features = FEATURES) {
  const missing = features.filter((feature) => {
    try { return !feature.has(); } catch { return true; }
  });
  return {
    losses: missing.map((feature) => feature.loss),
    canJoin: !missing.some((feature) => feature.essential),
  };
}

/** The sentence that says it, or "" when nothing is missing. */
export function supportSentence({ losses }) {
  if (!losses.length) return "";
  return `This browser cannot ${losses.join("; nor ")}. A current Firefox, Chromium, Edge or Safari can.`;
}

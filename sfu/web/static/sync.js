// Sync mode (opt-in, per viewer): incoming sound and pictures are held back by the measured caption
// lag, so that lips, voice and text line up for lip-readers. The browser's jitter buffer does the
// holding (`RTCRtpReceiver.jitterBufferTarget`); a browser without it is told so in words.

const MAX_TARGET_MS = 4000;   // the most the WebRTC specification lets a receiver hold back
const SAMPLES_KEPT = 15;      // the lag is the median of the last captions' latencies
const STEP_MS = 100;          // the hold-back is a multiple of this
const HYSTERESIS_MS = 300;    // a smaller change of the lag is not followed: each change makes
                              // the browser stretch or squeeze what it plays

/** Whether this browser can hold back received media (`jitterBufferTarget`). */
export function canDelay(receiver = globalThis.RTCRtpReceiver) {
  return typeof receiver === "function" && "jitterBufferTarget" in receiver.prototype;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export class SyncMode {
  /** `output`: the element that says what is applied; `receivers()`: the receivers to hold back
   *  now (every one, also those added since). */
  constructor({ output, receivers, supported = canDelay() }) {
    this.output = output;
    this.receivers = receivers;
    this.supported = supported;
    this.enabled = false;
    this.lags = [];          // seconds, newest last
    this.statusDelay = 0;    // seconds, from `status.delay` while captions run late
    this.appliedMs = 0;
  }

  setEnabled(enabled) {
    this.enabled = enabled;
    this.apply();
  }

  /** A caption update arrived `lag` seconds after the end of the speech it covers. */
  observeLag(lag) {
    if (!Number.isFinite(lag) || lag < 0) return;
    this.lags.push(lag);
    if (this.lags.length > SAMPLES_KEPT) this.lags.shift();
    this.apply();
  }

  /** A `status` message: while captions run late the server says by how much (`delay`). */
  observeStatus(status) {
    this.statusDelay = typeof status.delay === "number" && status.delay > 0 ? status.delay : 0;
    this.apply();
  }

  /** The hold-back wanted now, in milliseconds (0 until a lag is known). */
  get targetMs() {
    const lag = Math.max(this.lags.length ? median(this.lags) : 0, this.statusDelay);
    return Math.min(MAX_TARGET_MS, Math.round(lag * 1000 / STEP_MS) * STEP_MS);
  }

  /** Set every receiver's target (again: receivers added since get it too) and say so. */
  apply() {
    let target = this.enabled && this.supported ? this.targetMs : 0;
    if (target > 0 && this.appliedMs > 0 && Math.abs(target - this.appliedMs) < HYSTERESIS_MS) {
      target = this.appliedMs;
    }
    if (this.supported) {
      for (const receiver of this.receivers()) {
        const wanted = target > 0 ? target : null;  // null: the browser's own choice again
        try {
          if (receiver.jitterBufferTarget !== wanted) receiver.jitterBufferTarget = wanted;
        } catch { /* a receiver being closed: the next one still gets it */ }
      }
    }
    this.appliedMs = target;
    this.#say();
  }

  /** A new meeting: the last meeting's lag says nothing of this one. */
  reset() {
    this.lags = [];
    this.statusDelay = 0;
    this.apply();
  }

  #say() {
    const out = this.output;
    out.dataset.supported = String(this.supported);
    out.dataset.appliedMs = String(this.appliedMs);
    out.hidden = !this.enabled;
    if (!this.enabled) out.textContent = "";
    else if (!this.supported) {
      out.textContent = "Sync mode cannot work in this browser: it cannot hold back incoming sound and pictures. "
        + "Sound and pictures play as they arrive, ahead of the captions.";
    } else if (this.appliedMs === 0) {
      out.textContent = "Sync mode is on: sound and pictures will be held back to match the captions once the first captions have measured the delay.";
    } else {
      const seconds = (this.appliedMs / 1000).toFixed(1);
      const capped = this.targetMs >= MAX_TARGET_MS ? " (the most a browser allows)" : "";
      out.textContent = `Sync mode is on: sound and pictures are held back by ${seconds} s${capped} to match the captions.`;
    }
  }
}

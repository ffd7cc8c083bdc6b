// The participant's microphone: open (a chosen device), mute, a level meter and a speaking
// indicator; stopped (the browser's recording light goes off) on Leave.

const METER_INTERVAL_MS = 100;
const SPEAKING_LEVEL = 0.04;   // RMS of normal speech at a normal distance is well above it
const SPEAKING_HOLD_MS = 600;  // keep "speaking" through the short pauses between words

export class Microphone {
  constructor(stream) {
    this.stream = stream;
    this.track = stream.getAudioTracks()[0];
    this.muted = false;
    this.level = 0;
    this.speaking = false;
    this.lastLoud = 0;
    this.context = null;
    this.timer = null;
  }

  /** The default microphone or `deviceId`; throws getUserMedia's DOMException when refused. */
  static async open(deviceId = "") {
    const audio = deviceId ? { deviceId: { exact: deviceId } } : true;
    return new Microphone(await navigator.mediaDevices.getUserMedia({ audio, video: false }));
  }

  static async inputs() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.filter((d) => d.kind === "audioinput");
  }

  get deviceId() { return this.track.getSettings().deviceId ?? ""; }

  setMuted(muted) {
    this.muted = muted;
    this.track.enabled = !muted;  // a disabled track sends silence: no renegotiation needed
  }

  /** Calls `onLevel(level, speaking)` every 100 ms while the microphone is open (never without
   *  WebAudio: the page says so, support.js). */
  watch(onLevel) {
    if (typeof AudioContext !== "function") return;
    this.context = new AudioContext();
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 1024;
    this.context.createMediaStreamSource(this.stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      this.#measure(samples, performance.now());
      onLevel(this.level, this.speaking);
    }, METER_INTERVAL_MS);
  }

  #measure(samples, now) {
    const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
    this.level = this.muted ? 0 : Math.min(1, rms * 4);
    if (!this.muted && rms >= SPEAKING_LEVEL) this.lastLoud = now;
    this.speaking = !this.muted && now - this.lastLoud < SPEAKING_HOLD_MS;
  }

  stop() {
    clearInterval(this.timer);
    this.context?.close();
    for (const track of this.stream.getTracks()) track.stop();
  }
}

// This participant's pictures: the camera (off and on again without renegotiating: the track is
// disabled, the browser sends black frames or none) and a screen share (getDisplayMedia), each
// previewed in the person's own tile.

export class LocalVideo {
  /** `onChange(source, track, on)`: the camera or screen track changed (null: gone) or the
   *  camera was turned off or on. */
  constructor({ onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.camera = null;   // MediaStreamTrack
    this.screen = null;   // MediaStreamTrack
  }

  /** Whether this device has a camera at all (labels need no permission for this). */
  static async hasCamera() {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      return devices.some((d) => d.kind === "videoinput");
    } catch {
      return false;
    }
  }

  get cameraOn() { return this.camera?.enabled === true && this.camera.readyState === "live"; }

  /** Open the camera (throws getUserMedia's DOMException when refused). */
  async openCamera() {
    if (this.camera?.readyState === "live") return this.camera;
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    this.camera = stream.getVideoTracks()[0];
    this.onChange("camera", this.camera, true);
    return this.camera;
  }

  /** Camera off or on during the meeting: no renegotiation, the track is only disabled. */
  setCameraOn(on) {
    if (!this.camera) return;
    this.camera.enabled = on;
    this.onChange("camera", this.camera, on);
  }

  /** Start sharing a screen (the browser asks which); throws when the person cancels. */
  async startScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    this.screen = stream.getVideoTracks()[0];
    // The browser's own "Stop sharing" ends the track: the page stops the share with it.
    this.screen.addEventListener("ended", () => this.stopScreen());
    this.onChange("screen", this.screen, true);
    return this.screen;
  }

  stopScreen() {
    if (!this.screen) return;
    this.screen.stop();
    this.screen = null;
    this.onChange("screen", null, false);
  }

  /** Leave: every camera and screen light goes off. */
  stop() {
    this.stopScreen();
    this.camera?.stop();
    if (this.camera) this.onChange("camera", null, false);
    this.camera = null;
  }
}

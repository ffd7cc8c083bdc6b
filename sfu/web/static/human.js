// Human captions on the participant page (docs/protocol-notes.md, "Human captions"): a human
// captioner's lines come as captions marked `source: "human"`; `status.human` says the room's mode
// (human captions instead of the automatic ones, or beside them) and whether a captioner is active.
// The participant may choose which captions they see; the choice is remembered and sent to the
// server as `caption-sources` on the captions channel.

export const SOURCES = ["room", "human", "automatic", "both"];

const MODE_TEXT = {
  instead: "instead of the automatic captions",
  beside: "beside the automatic captions",
};

export function isHuman(caption) {
  return caption?.source === "human";
}

export class HumanCaptions {
  /** `notice`: where the page says a captioner is active; `select`: the choice (in a label that
   *  stays hidden until the room has a captioner); `send(message)`: on the captions channel. */
  constructor({ notice, select, field, choice, onChoice, send }) {
    this.notice = notice;
    this.select = select;
    this.field = field;
    this.send = send;
    this.onChoice = onChoice;
    this.select.value = SOURCES.includes(choice) ? choice : "room";
    this.select.addEventListener("change", () => this.#choose(this.select.value));
  }

  get choice() { return this.select.value; }

  /** A `status` from the server: show what it says of human captions, and make the server
   *  apply this page's choice if it does not know it yet (a new connection). */
  onStatus(status) {
    const human = status.human;
    if (!human || typeof human !== "object") {
      if (this.choice !== "room") this.send({ type: "caption-sources", show: this.choice });
      return;
    }
    this.field.hidden = false;
    this.select.dataset.applied = String(human.show);  // what the server applies (a page hook)
    this.notice.hidden = !human.active;
    this.notice.dataset.mode = String(human.mode);
    this.notice.textContent = human.active
      ? `A human captioner is captioning this meeting, ${MODE_TEXT[human.mode] ?? ""}.`
      : "";
    if (human.show !== this.choice) this.send({ type: "caption-sources", show: this.choice });
  }

  reset() {
    this.notice.hidden = true;
    this.notice.textContent = "";
  }

  #choose(choice) {
    this.onChoice(choice);
    this.send({ type: "caption-sources", show: choice });
  }
}

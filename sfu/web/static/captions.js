// The caption display: a fixed area of at most three lines (roll-up, newest at the bottom), and the
// segment bookkeeping of protocol v1 (revisions, finals, withdrawn segments).

const KEPT_ELEMENTS = 6;  // lines kept in the DOM; CSS clips the area to three lines of text
const LIVE_KEPT = 20;     // finals kept in the screen-reader region

/** Whether `message` has the caption fields the page reads, with their protocol v1 types: a
 *  malformed one is dropped rather than shown half-way. */
export function isCaption(m) {
  const speakerOk = m.speaker === null || (typeof m.speaker === "object" && typeof m.speaker.id === "string" && typeof m.speaker.name === "string");
  return typeof m.segment === "string" && Number.isInteger(m.rev) && typeof m.final === "boolean"
    && typeof m.text === "string" && Number.isFinite(m.start) && Number.isFinite(m.end) && speakerOk;
}

/** Segments of one session (segment ids are unique per server run only): accepts an update when
 *  its revision is newer than the last one seen and the segment is not final yet. */
export class SegmentBook {
  constructor() { this.revs = new Map(); this.done = new Set(); }

  accept(caption) {
    if (this.done.has(caption.segment)) return false;
    const rev = this.revs.get(caption.segment);
    if (rev !== undefined && caption.rev <= rev) return false;  // stale or duplicate update
    if (caption.final) {
      this.revs.delete(caption.segment);
      this.done.add(caption.segment);
    } else {
      this.revs.set(caption.segment, caption.rev);
    }
    return true;
  }
}

const HUMAN_LABEL = "Captioner";  // a human captioner's line (docs/protocol-notes.md)

export class CaptionView {
  /** `labelOf(speaker)`: the name shown for a speaker (tells two people of one name apart);
   *  `renderText(element, caption)`: puts a caption's text in its element (uncertain.js). */
  constructor({ area, lines, live, labelOf, onPick, renderText = (e, c) => { e.textContent = c.text; } }) {
    this.area = area;
    this.lines = lines;
    this.live = live;
    this.labelOf = labelOf;
    this.onPick = onPick;
    this.renderText = renderText;
    this.elements = new Map();  // segment id -> element
  }

  show(caption) {
    const element = this.elements.get(caption.segment) ?? this.#add(caption);
    if (caption.final && !caption.text) {  // an empty final withdraws the segment
      this.#remove(caption.segment);
      return;
    }
    element.dataset.final = String(caption.final);
    element.dataset.speaker = caption.speaker?.name ?? "";
    element.dataset.speakerId = caption.speaker?.id ?? "";
    element.dataset.source = caption.source === "human" ? "human" : "automatic";
    this.renderText(element.querySelector(".text"), caption);
    this.#labelSpeakers();
    if (caption.final) this.#announce(caption);
  }

  clear() {
    this.lines.replaceChildren();
    this.elements.clear();
  }

  /** The final captions on screen, newest last: what the Flag button offers. */
  finalsOnScreen() {
    return [...this.elements.values()].filter((e) => e.dataset.final === "true");
  }

  #add(caption) {
    const element = document.createElement("p");
    element.dataset.segment = caption.segment;
    const who = document.createElement("span");
    who.className = "speaker";
    const text = document.createElement("span");
    text.className = "text";
    element.append(who, text);
    // Pointer users pick a line to flag by clicking it; keyboard users use the Flag button.
    element.addEventListener("click", () => this.onPick(element.dataset.segment));
    this.lines.append(element);
    this.elements.set(caption.segment, element);
    while (this.elements.size > KEPT_ELEMENTS) this.#remove(this.elements.keys().next().value);
    return element;
  }

  #remove(segment) {
    this.elements.get(segment)?.remove();
    this.elements.delete(segment);
    this.#labelSpeakers();
  }

  /** The speaker's name only where the speaker changes, as in subtitles; a human captioner's
   *  lines say so. */
  #labelSpeakers() {
    let previous = null;
    for (const element of this.elements.values()) {
      const human = element.dataset.source === "human";
      const id = human ? "\u0000human" : element.dataset.speakerId;
      const label = element.querySelector(".speaker");
      const changed = id !== previous && (human || element.dataset.speaker !== "");
      const name = human ? HUMAN_LABEL : this.labelOf({ id, name: element.dataset.speaker });
      label.textContent = changed ? `${name}:` : "";
      label.hidden = !changed;
      previous = id;
    }
  }

  #announce(caption) {
    const line = document.createElement("p");
    const who = caption.source === "human" ? `${HUMAN_LABEL}: `
      : caption.speaker ? `${this.labelOf(caption.speaker)}: ` : "";
    line.textContent = `${who}${caption.text}`;
    this.live.append(line);
    while (this.live.children.length > LIVE_KEPT) this.live.firstElementChild.remove();
  }
}

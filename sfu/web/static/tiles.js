// The meeting's tiles: one per person (you and the others) with the name, whether they speak and
// whether their camera is on (off: their initials), a screen share as a tile of its own shown
// large, a tile pinned large whoever speaks (a sign-language interpreter), and, as a display
// option, each person's live caption under their own tile. Nothing here is said only in colour:
// speaking, camera and pin states are words too.
//
// Pages (issue 22): with more tiles than fit, the large tiles (pinned, screens) stay and the others
// are shown a page at a time ("Previous page" / "Next page", "Page 2 of 3"). What is pinned and
// which people are on the page shown is told to the server (`onView`: the `view` message), which
// forwards those cameras first after the last speakers'; a camera that is on but that the server
// does not forward now (`setForwarded`) shows the name and says "not shown now".

const CAPTION_KEPT_MS = 8000;  // a tile's caption stays this long after its last update

/** "Ada Lovelace" -> "AL", "bob" -> "B": what a tile shows when there is no picture. */
export function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words.at(-1)] : words;
  return letters.map((w) => [...w][0].toUpperCase()).join("") || "?";
}

export class Tiles {
  /** `list`: the element the tiles go in (a `ul`); `renderText(element, caption)` writes a
   *  caption's text (uncertain.js); `onPin(key)`: the pinned tile changed (null: none). */
  constructor({
    list, renderText = (e, c) => { e.textContent = c.text; }, onPin = () => {},
    pager = null, pageSize = () => 9, onView = () => {},
  }) {
    this.list = list;
    this.renderText = renderText;
    this.onPin = onPin;
    this.pager = pager;         // {nav, previous, next, label} or null
    this.pageSize = pageSize;   // tiles a page holds besides the large ones, now
    this.onView = onView;       // ({pinned: [id], visible: [id]}) when either changed
    this.page = 0;              // from 0
    this.pages = 1;
    this.forwarded = null;      // ids whose camera the server forwards now; null: not said
    this.cameraOn = new Map();  // id -> camera on, as `participant-media` said
    this.cameraSeen = new Set();  // ids whose camera was forwarded here at some time
    this.lastView = "";
    pager?.previous.addEventListener("click", () => this.turnPage(-1));
    pager?.next.addEventListener("click", () => this.turnPage(1));
    this.tiles = new Map();     // key ("<id>" or "<id>:screen") -> tile element
    this.people = new Map();    // id -> {id, label, me, speaking}
    this.pinned = null;         // key of the pinned tile
    this.captionUntil = new Map();  // key -> performance.now() deadline
  }

  /** The people now in the room, as the roster lists them: [{id, label, me, speaking}]. */
  update(people) {
    this.people = new Map(people.map((p) => [p.id, p]));
    for (const [key, tile] of this.tiles) {
      if (!this.people.has(tile.dataset.participant)) this.#remove(key);
    }
    for (const person of people) {
      this.#render(this.tiles.get(person.id) ?? this.#add(person.id, "camera"), person);
      const screen = this.tiles.get(`${person.id}:screen`);
      if (screen) this.#render(screen, person);
    }
    this.#layout();
  }

  /** Show `video` (an element with `data-participant` and `data-source` camera|screen) in its
   *  tile; a screen share gets a tile of its own. */
  attach(video) {
    const id = video.dataset.participant;
    const source = video.dataset.source === "screen" ? "screen" : "camera";
    const key = source === "screen" ? `${id}:screen` : id;
    const tile = this.tiles.get(key) ?? this.#add(id, source);
    const media = tile.querySelector(".tile-media");
    for (const old of media.querySelectorAll("video")) if (old !== video) old.remove();
    video.muted = true;  // sound comes through the audio elements
    video.playsInline = true;
    media.append(video);
    if (source === "camera") tile.dataset.camera = "on";
    const person = this.people.get(id);
    if (person) this.#render(tile, person);
    this.#layout();
  }

  /** Whether `participant`'s `source` tile already shows `track`. */
  shows(participant, source, track) {
    const key = source === "screen" ? `${participant}:screen` : participant;
    const video = this.tiles.get(key)?.querySelector(".tile-media video");
    return video?.srcObject?.getVideoTracks?.()[0] === track;
  }

  /** Take in the others' videos (video.js keeps them under the list, names them with
   *  `data-participant` and `data-source`, and hides one whose camera or screen is off): each goes
   *  in its person's tile; a camera off shows the initials, a screen share stopped hides its tile. */
  adopt() {
    for (const video of this.list.querySelectorAll("video[data-participant]:not([data-local])")) {
      const screen = video.dataset.source === "screen";
      const key = screen ? `${video.dataset.participant}:screen` : video.dataset.participant;
      if (video.closest(".tile")?.dataset.key !== key) this.attach(video);
    }
    for (const [key, tile] of this.tiles) {
      const video = tile.querySelector(".tile-media video");
      const person = this.people.get(tile.dataset.participant);
      if (tile.dataset.source === "screen") {
        if (!video) this.#remove(key);
        else tile.hidden = video.hidden;
      } else if (!person?.me) {
        tile.dataset.camera = video && !video.hidden ? "on" : "off";
        if (person) this.#render(tile, person);
      }
    }
    this.#layout();
  }

  /** The video of `participant`'s `source` has ended (left, camera track gone, share stopped). */
  detach(participant, source) {
    const key = source === "screen" ? `${participant}:screen` : participant;
    const tile = this.tiles.get(key);
    if (!tile) return;
    if (source === "screen") this.#remove(key);
    else {
      tile.querySelector(".tile-media video")?.remove();
      this.setCamera(participant, false);
    }
    this.#layout();
  }

  /** A camera turned on or off (no picture: the initials and the words "camera off"). */
  setCamera(participant, on) {
    const tile = this.tiles.get(participant);
    if (!tile) return;
    tile.dataset.camera = on && tile.querySelector(".tile-media video") ? "on" : "off";
    const person = this.people.get(participant);
    if (person) this.#render(tile, person);
  }

  /** Pin the tile `key` (or unpin it when it is pinned already; null unpins). */
  pin(key) {
    this.pinned = key === null || key === this.pinned || !this.tiles.has(key) ? null : key;
    for (const [k, tile] of this.tiles) {
      const pinned = k === this.pinned;
      tile.dataset.pinned = String(pinned);
      const button = tile.querySelector(".pin");
      button.setAttribute("aria-pressed", String(pinned));
      const person = this.people.get(tile.dataset.participant);
      if (person) this.#render(tile, person);
    }
    this.#layout();
    this.onPin(this.pinned);
  }

  /** Show the previous (-1) or next (1) page of tiles. */
  turnPage(delta) {
    this.page += delta;
    this.#layout();
  }

  /** The ids whose camera the server forwards now (from `video-sections`); null: it does not say. */
  setForwarded(ids) {
    this.forwarded = ids;
    for (const id of ids ?? []) this.cameraSeen.add(id);
    this.#renderAll();
  }

  /** Another participant's `participant-media`: whether its camera is on. */
  setMediaState(message) {
    this.cameraOn.set(message.participant, Boolean(message.camera));
    this.#renderAll();
  }

  /** A caption update of `speakerId`, shown under their tile ("captions under each speaker"). */
  caption(speakerId, caption, now = performance.now()) {
    const tile = this.tiles.get(speakerId);
    if (!tile) return;
    const line = tile.querySelector(".tile-caption");
    if (caption.final && !caption.text) {  // a withdrawn segment
      if (line.dataset.segment === caption.segment) this.#clearCaption(speakerId);
      return;
    }
    line.dataset.segment = caption.segment;
    line.dataset.final = String(caption.final);
    this.renderText(line, caption);
    line.hidden = false;
    this.captionUntil.set(speakerId, now + CAPTION_KEPT_MS);
  }

  /** Expire old tile captions; called on a timer. */
  tick(now = performance.now()) {
    for (const [key, until] of this.captionUntil) if (until <= now) this.#clearCaption(key);
  }

  clearCaptions() {
    for (const key of [...this.captionUntil.keys()]) this.#clearCaption(key);
  }

  clear() {
    for (const key of [...this.tiles.keys()]) this.#remove(key);
    this.people.clear();
    this.pinned = null;
    this.page = 0;
    this.forwarded = null;
    this.cameraOn.clear();
    this.cameraSeen.clear();
    this.lastView = "";
    this.#layout();
  }

  #renderAll() {
    for (const tile of this.tiles.values()) {
      const person = this.people.get(tile.dataset.participant);
      if (person) this.#render(tile, person);
    }
  }

  #clearCaption(key) {
    this.captionUntil.delete(key);
    const line = this.tiles.get(key)?.querySelector(".tile-caption");
    if (!line) return;
    line.replaceChildren();
    line.dataset.segment = "";
    line.hidden = true;
  }

  #add(id, source) {
    const key = source === "screen" ? `${id}:screen` : id;
    const tile = document.createElement("li");
    tile.className = "tile";
    tile.dataset.participant = id;
    tile.dataset.source = source;
    tile.dataset.key = key;
    tile.dataset.camera = source === "screen" ? "on" : "off";
    tile.dataset.speaking = "false";
    tile.dataset.pinned = "false";
    tile.dataset.large = "false";
    const media = document.createElement("div");
    media.className = "tile-media";
    const face = document.createElement("span");
    face.className = "initials";
    face.setAttribute("aria-hidden", "true");
    media.append(face);
    const bar = document.createElement("div");
    bar.className = "tile-bar";
    const name = document.createElement("span");
    name.className = "tile-name";
    const state = document.createElement("span");
    state.className = "tile-state";
    const pin = document.createElement("button");
    pin.type = "button";
    pin.className = "pin";
    pin.setAttribute("aria-pressed", "false");
    pin.textContent = "Pin";
    pin.addEventListener("click", () => this.pin(key));
    bar.append(name, state, pin);
    // Captions under the tile are for the eyes: screen readers hear finals once, from the
    // caption area's live region.
    const line = document.createElement("p");
    line.className = "tile-caption";
    line.setAttribute("aria-hidden", "true");
    line.hidden = true;
    tile.append(media, bar, line);
    this.list.append(tile);
    this.tiles.set(key, tile);
    return tile;
  }

  #remove(key) {
    const tile = this.tiles.get(key);
    tile?.querySelector(".tile-media video")?.remove();
    tile?.remove();
    this.tiles.delete(key);
    this.captionUntil.delete(key);
    if (this.pinned === key) this.pin(null);
  }

  #render(tile, person) {
    const screen = tile.dataset.source === "screen";
    const who = `${person.label}${person.me ? " (you)" : ""}`;
    const speaking = !screen && person.speaking;
    tile.dataset.speaking = String(speaking);
    tile.querySelector(".initials").textContent = initials(person.label);
    tile.querySelector(".tile-name").textContent = screen ? `${who}: screen` : who;
    const words = [];
    // On at its source, but not among the cameras the server forwards to this page now.
    // Its camera is on by its `participant-media`, else if it was ever forwarded here.
    const on = this.cameraOn.get(person.id) ?? this.cameraSeen.has(person.id);
    const unsent = !screen && !person.me && tile.dataset.camera !== "on" && this.forwarded !== null
      && on && !this.forwarded.has(person.id);
    tile.dataset.forwarded = screen || person.me || this.forwarded === null ? "" : String(!unsent && tile.dataset.camera === "on");
    if (unsent) words.push("camera not shown now (too many cameras)");
    else if (!screen && tile.dataset.camera !== "on") words.push("camera off");
    if (speaking) words.push("speaking");
    if (tile.dataset.pinned === "true") words.push("pinned");
    tile.querySelector(".tile-state").textContent = words.join(" · ");
    const what = screen ? `${person.label}'s screen` : person.me ? "your tile" : `${person.label}'s tile`;
    tile.querySelector(".pin").setAttribute("aria-label", `Pin ${what} large`);
    const video = tile.querySelector(".tile-media video");
    if (video) video.setAttribute("aria-label", screen ? `${person.label}'s screen` : `${person.label}'s camera`);
  }

  /** Large: the pinned tile and any screen share; the others in the grid (or strip) below. */
  #layout() {
    let large = 0;
    for (const [key, tile] of this.tiles) {
      const big = !tile.hidden && (key === this.pinned || tile.dataset.source === "screen");
      tile.dataset.large = String(big);
      if (big) large += 1;
    }
    this.list.dataset.large = String(large);
    this.list.dataset.count = String(this.tiles.size);
    this.#paginate();
  }

  /** Pages of the tiles that are not large (large ones are on every page); tell the view. */
  #paginate() {
    const paged = [...this.tiles.values()].filter((t) => !t.hidden && t.dataset.large !== "true");
    const size = Math.max(1, this.pageSize());
    this.pages = Math.max(1, Math.ceil(paged.length / size));
    this.page = Math.min(Math.max(0, this.page), this.pages - 1);
    for (const tile of this.tiles.values()) tile.dataset.offPage = "false";
    paged.forEach((tile, i) => { tile.dataset.offPage = String(Math.floor(i / size) !== this.page); });
    this.list.dataset.page = String(this.page + 1);
    this.list.dataset.pages = String(this.pages);
    if (this.pager) {
      this.pager.nav.hidden = this.pages < 2;
      this.pager.previous.disabled = this.page === 0;
      this.pager.next.disabled = this.page >= this.pages - 1;
      const text = `Page ${this.page + 1} of ${this.pages}`;
      if (this.pager.label.textContent !== text) this.pager.label.textContent = text;
    }
    this.#tellView();
  }

  #tellView() {
    const others = (tile) => tile.dataset.source === "camera" && !this.people.get(tile.dataset.participant)?.me;
    const pinnedTile = this.pinned === null ? null : this.tiles.get(this.pinned);
    const pinned = pinnedTile && others(pinnedTile) ? [pinnedTile.dataset.participant] : [];
    const visible = [...this.tiles.values()]
      .filter((t) => others(t) && t.dataset.offPage !== "true" && t.dataset.large !== "true")
      .map((t) => t.dataset.participant);
    const view = JSON.stringify({ pinned, visible });
    if (view === this.lastView || !this.people.size) return;
    this.lastView = view;
    this.onView({ pinned, visible });
  }
}

// The transcript panel: every final caption since this participant joined (across reconnects),
// searchable, downloadable as plain text and as WebVTT.

function clockTime(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour12: false });
}

/** WebVTT timestamp (hh:mm:ss.ttt) of `seconds` ≥ 0. */
export function vttTime(seconds) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

function vttEscape(text) {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** WebVTT (W3C WebVTT §4) of `entries`, timed from `origin` (unix), one voice span per speaker. */
export function toWebVTT(entries, origin) {
  const cues = entries.map((e, i) => {
    const start = e.startUnix - origin;
    const end = Math.max(e.endUnix - origin, start + 0.001);
    const text = e.speaker ? `<v ${vttEscape(e.speaker)}>${vttEscape(e.text)}` : vttEscape(e.text);
    return `${i + 1}\n${vttTime(start)} --> ${vttTime(end)}\n${text}\n`;
  });
  return ["WEBVTT\n", ...cues].join("\n");
}

export function toText(entries) {
  return entries.map((e) => `[${clockTime(e.startUnix)}] ${e.speaker ? `${e.speaker}: ` : ""}${e.text}`).join("\n") + "\n";
}

function download(name, type, body) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([body], { type }));
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

export class Transcript {
  constructor({ list, search, count, onFlag }) {
    this.list = list;
    this.search = search;
    this.count = count;
    this.onFlag = onFlag;
    this.entries = [];
    this.origin = null;  // unix time of the first join: WebVTT cues are timed from it
    search.addEventListener("input", () => this.#filter());
  }

  /** `caption` a final one with text; `clockOrigin` of its room; `session` of its connection. */
  add(caption, clockOrigin, session, speakerLabel) {
    const entry = {
      segment: caption.segment, session, speaker: speakerLabel, speakerName: caption.speaker?.name ?? "",
      text: caption.text, startUnix: clockOrigin + caption.start, endUnix: clockOrigin + caption.end,
    };
    this.entries.push(entry);
    const atBottom = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 8;
    this.list.append(this.#item(entry));
    this.#filter();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
    return entry;
  }

  startedAt(unix) { if (this.origin === null) this.origin = unix; }

  /** Flag buttons of earlier sessions are disabled: the server knows only this session's ids. */
  setSession(session) {
    for (const button of this.list.querySelectorAll("button[data-session]")) {
      button.disabled = Number(button.dataset.session) !== session;
    }
  }

  find(segment, session) {
    return this.entries.find((e) => e.segment === segment && e.session === session);
  }

  recent(session, count) {
    return this.entries.filter((e) => e.session === session).slice(-count);
  }

  downloadText(room) { download(`captions-${room}.txt`, "text/plain", toText(this.entries)); }

  downloadVTT(room) {
    download(`captions-${room}.vtt`, "text/vtt", toWebVTT(this.entries, this.origin ?? 0));
  }

  #item(entry) {
    const item = document.createElement("li");
    item.dataset.segment = entry.segment;
    item.dataset.speaker = entry.speakerName;
    item.dataset.final = "true";
    const time = document.createElement("time");
    time.dateTime = new Date(entry.startUnix * 1000).toISOString();
    time.textContent = clockTime(entry.startUnix);
    const who = document.createElement("strong");
    who.textContent = entry.speaker ? `${entry.speaker}:` : "";
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = entry.text;
    const flag = document.createElement("button");
    flag.type = "button";
    flag.className = "flag-entry";
    flag.textContent = "Flag";
    flag.setAttribute("aria-label", `Flag the caption: ${entry.text}`);
    flag.dataset.session = String(entry.session);
    flag.addEventListener("click", () => this.onFlag(entry));
    item.append(time, " ", who, " ", text, " ", flag);
    return item;
  }

  #filter() {
    const query = this.search.value.trim().toLowerCase();
    let shown = 0;
    this.entries.forEach((entry, i) => {
      const match = !query || `${entry.speaker} ${entry.text}`.toLowerCase().includes(query);
      this.list.children[i].hidden = !match;
      shown += match ? 1 : 0;
    });
    this.count.textContent = query
      ? `${shown} of ${this.entries.length} captions match “${this.search.value.trim()}”`
      : `${this.entries.length} captions`;
  }
}

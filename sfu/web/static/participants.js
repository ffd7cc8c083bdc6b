// Who is in the room: the list (two people of one name told apart by a number, in order of
// arrival), joins and leaves announced visibly and to screen readers, who is speaking.

const EVENTS_KEPT = 5;
const NAMED_IN_EVENT = 3;  // a batch of more joins (or leaves) is announced in one line
const SPEAKING_MS = 2500;  // a speaker stays marked this long after their last caption update

export class Roster {
  /** `onChange()`: called after every change of who is here or who speaks (the tiles follow). */
  constructor({ list, events, onChange = () => {} }) {
    this.list = list;
    this.events = events;
    this.onChange = onChange;
    this.me = null;               // {id, name}
    this.people = new Map();      // id -> {id, name, ordinal}
    this.speakingUntil = new Map();  // id -> performance.now() deadline
    this.arrivals = 0;
    this.selfSpeaking = false;
  }

  /** A new session: the room's people as `joined` lists them (they are not announced). */
  reset(me, others) {
    this.me = me;
    this.people.clear();
    this.speakingUntil.clear();
    // Those already here arrived first: every page numbers two people of one name alike.
    for (const person of [...others, me]) this.#add(person);
    this.render();
  }

  clear() {
    this.me = null;
    this.people.clear();
    this.render();
  }

  joined(person) {
    this.changed([person], []);
  }

  left(person) {
    this.changed([], [person]);
  }

  /** A `participants` batch (or one change): the list is drawn once, and a storm of joins is
   * announced in one line, not one per person (a screen reader would read them all). */
  changed(joined, left) {
    // Labels of those leaving are taken before they go ("Sam (2)" is told apart from "Sam").
    this.#announce(left.map((p) => this.label(p)), "left");
    for (const person of left) {
      this.people.delete(person.id);
      this.speakingUntil.delete(person.id);
    }
    for (const person of joined) this.#add(person);
    this.#announce(joined.map((p) => this.label(p)), "joined");
    this.render();
  }

  #announce(labels, verb) {
    if (labels.length > NAMED_IN_EVENT) {
      const named = labels.slice(0, NAMED_IN_EVENT - 1).join(", ");
      this.announce(`${named} and ${labels.length - NAMED_IN_EVENT + 1} others ${verb}`);
    } else {
      for (const label of labels) this.announce(`${label} ${verb}`);
    }
  }

  /** The name shown for `person`: "Ada", or "Ada (2)" when another Ada came first. */
  label(person) {
    const known = this.people.get(person.id);
    if (!known) return person.name;
    const same = [...this.people.values()].filter((p) => p.name === known.name);
    if (same.length < 2) return known.name;
    const rank = same.sort((a, b) => a.ordinal - b.ordinal).indexOf(known) + 1;
    return rank === 1 ? known.name : `${known.name} (${rank})`;
  }

  speaking(id, now = performance.now()) {
    const was = (this.speakingUntil.get(id) ?? 0) > now;
    this.speakingUntil.set(id, now + SPEAKING_MS);
    if (!was) this.render();
  }

  setSelfSpeaking(speaking) {
    if (speaking === this.selfSpeaking) return;
    this.selfSpeaking = speaking;
    this.render();
  }

  /** Expire speaking marks; called on a timer. */
  tick(now = performance.now()) {
    const expired = [...this.speakingUntil].filter(([, until]) => until <= now);
    for (const [id] of expired) this.speakingUntil.delete(id);
    if (expired.length) this.render();
  }

  announce(text) {
    const item = document.createElement("li");
    item.textContent = `${new Date().toLocaleTimeString([], { hour12: false })} ${text}`;
    this.events.append(item);
    while (this.events.children.length > EVENTS_KEPT) this.events.firstElementChild.remove();
  }

  render() {
    this.list.replaceChildren(...[...this.people.values()].map((p) => this.#item(p)));
    this.onChange();
  }

  /** Everyone here, in order of arrival: [{id, name, label, me, speaking}]. */
  snapshot() {
    return [...this.people.values()].map((p) => {
      const me = p.id === this.me?.id;
      return { id: p.id, name: p.name, label: this.label(p), me, speaking: this.#isSpeaking(p.id) };
    });
  }

  #isSpeaking(id) {
    return id === this.me?.id ? this.selfSpeaking : this.speakingUntil.has(id);
  }

  #add(person) {
    this.arrivals += 1;
    this.people.set(person.id, { id: person.id, name: person.name, ordinal: this.arrivals });
  }

  #item(person) {
    const item = document.createElement("li");
    item.dataset.participant = person.id;
    const isMe = person.id === this.me?.id;
    const speaking = this.#isSpeaking(person.id);
    item.dataset.speaking = String(speaking);
    item.textContent = `${this.label(person)}${isMe ? " (you)" : ""}${speaking ? " · speaking" : ""}`;
    return item;
  }
}

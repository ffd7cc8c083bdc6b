// "This caption is wrong": the person picks the caption (the one they clicked, or one of the last
// few) and may say why; the report goes on the captions channel as a `flag` (docs/protocol-notes.md).
// The dialog is not modal and the result is its own status line: the connection state stays visible.

export class FlagDialog {
  constructor({ dialog, choices, reason, result, send }) {
    this.dialog = dialog;
    this.choices = choices;
    this.reason = reason;
    this.result = result;
    this.send = send;
    this.entries = [];
    dialog.addEventListener("close", () => this.#onClose());
  }

  /** Offer `picked` (checked) and the `recent` entries of this session. */
  open(picked, recent) {
    if (typeof this.dialog.show !== "function") {  // no <dialog>: the page says so (support.js)
      this.failed("This browser cannot show the report form.");
      return;
    }
    this.entries = [...new Map([...recent, picked].map((e) => [e.segment, e])).values()];
    this.choices.replaceChildren(this.choices.firstElementChild, ...this.entries.map((e) => this.#choice(e, e === picked)));
    this.reason.value = "";
    this.result.textContent = "";
    this.dialog.returnValue = "";
    if (!this.dialog.open) this.dialog.show();
    this.choices.querySelector("input:checked")?.focus();
  }

  close() { if (this.dialog.open) this.dialog.close("cancel"); }

  failed(sentence) { this.result.textContent = sentence; }

  #choice(entry, checked) {
    const label = document.createElement("label");
    label.className = "inline";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "flag-segment";
    input.value = entry.segment;
    input.checked = checked;
    label.append(input, ` ${entry.speaker ? `${entry.speaker}: ` : ""}${entry.text}`);
    return label;
  }

  #onClose() {
    if (this.dialog.returnValue !== "send") return;
    const segment = this.choices.querySelector("input:checked")?.value;
    const entry = this.entries.find((e) => e.segment === segment);
    if (!entry) return;
    const message = { type: "flag", segment, reason: this.reason.value.trim().slice(0, 500) };
    this.result.textContent = this.send(message)
      ? `Thank you: “${entry.text}” was reported to the accessibility team.`
      : "The report could not be sent: you are not connected right now. Try again once you are back in the room.";
  }
}

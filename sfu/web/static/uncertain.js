// Uncertain words (docs/protocol-notes.md, "Word confidence"): a caption's words may carry the
// engine's confidence; below LOW_CONFIDENCE the word is likely misheard. With the setting on, the
// page underlines such words, so that a reader knows which words to doubt.

export const LOW_CONFIDENCE = 0.5;  // protocol/captions.py LOW_CONFIDENCE: change both together

export function isUncertain(word) {
  return typeof word?.confidence === "number" && word.confidence < LOW_CONFIDENCE;
}

/** Put `caption`'s text in `element`: plain, or with its uncertain words in underlined spans when
 *  `underline` is on and the words spell the text (they do for every engine caption). */
export function renderCaptionText(element, caption, underline) {
  const words = Array.isArray(caption.words) ? caption.words : [];
  const spelled = words.map((w) => w?.text).join(" ") === caption.text;
  if (!underline || !spelled || !words.some(isUncertain)) {
    element.textContent = caption.text;
    return;
  }
  const parts = [];
  words.forEach((word, i) => {
    if (i) parts.push(document.createTextNode(" "));
    if (!isUncertain(word)) {
      parts.push(document.createTextNode(word.text));
      return;
    }
    const span = document.createElement("span");
    span.className = "uncertain";
    span.dataset.confidence = String(word.confidence);
    span.title = "The captions may have this word wrong";
    span.textContent = word.text;
    parts.push(span);
  });
  element.replaceChildren(...parts);
}

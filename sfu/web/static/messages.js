// What the page tells people: every protocol error code as a sentence that says what to do.

const SENTENCES = {
  "bad-request": "The server did not accept a request from this page. Reload the page and join again; if it keeps happening, tell the meeting organiser.",
  "unauthorized": "This meeting needs a valid access token. Check the token in your invitation (or sign in), then select Join again.",
  "forbidden": "You are not allowed into this room. Ask the meeting organiser for an invitation to it.",
  "room-full": "This room is full. Wait until someone leaves and select Join again, or ask the organiser for another room.",
  "not-joined": "The server lost your place in the room. Select Join again.",
  "too-large": "A message from this page was too large for the server. Reload the page and try again.",
  "rate-limited": "This page sent too many requests too quickly. Wait a few seconds and try again.",
  "unavailable": "The caption service cannot take this meeting right now (it is starting up or full). The page keeps trying by itself; you can also wait a minute and select Join again.",
  "internal": "The server ran into a problem. Select Join again; if it keeps happening, tell the operator of this service.",
};

const FLAG_SENTENCES = {
  "rate-limited": "You have reported many captions already: the server does not take more reports from you in this meeting.",
};

/** The sentence shown for an `error` frame (`ref` is the type of the message it answers). */
export function errorSentence(code, ref) {
  if (ref === "flag") {
    return FLAG_SENTENCES[code] ?? "Your caption report was not accepted: that caption can no longer be reported. Pick a more recent one.";
  }
  return SENTENCES[code] ?? `The server refused the request (${code}). Reload the page and try again.`;
}

/** Join errors after which trying again later may work; the others need the person to act. */
export const RETRYABLE_JOIN_ERRORS = new Set(["unavailable", "internal", "rate-limited"]);

/** Why the microphone could not be used, from a getUserMedia error. */
export function microphoneSentence(error) {
  if (error?.name === "NotAllowedError") {
    return "The browser did not allow the microphone, so you are listening only: you hear the others and read the captions like everyone else.";
  }
  if (error?.name === "NotFoundError") {
    return "No microphone was found, so you are listening only: you hear the others and read the captions like everyone else.";
  }
  return `The microphone could not be opened (${error?.name ?? "unknown error"}), so you are listening only: you hear the others and read the captions.`;
}

// Single sign-on on the participant page (README, "Access control").
//
// When the server offers sign-in (GET /auth/config), a "Sign in" button goes in #signin-area; it
// sends the browser to /auth/login for the room typed in #room. The server comes back to
// /?room=R#token=TOKEN: the token arrives in the fragment (never sent to a server, so kept out of
// logs and Referer headers), goes into #token, and the fragment is removed from the address bar.
// The name others will see comes from the token; it prefills #name. "Review captions" signs an
// accessibility reviewer in to /review/ (the server keeps their token in an HttpOnly cookie).

const $ = (id) => document.getElementById(id);

export function tokenClaims(token) {
  // Display only: the server checks the signature. base64url → JSON.
  try {
    const body = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(escape(atob(body)));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

function takeFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const taken = { token: params.get("token"), error: params.get("signin-error") };
  if (taken.token || taken.error) history.replaceState(null, "", location.pathname + location.search);
  return taken;
}

function showSignInError(area, sentence) {
  const note = document.createElement("p");
  note.id = "signin-error";
  note.setAttribute("role", "alert");
  note.textContent = sentence.slice(0, 300);
  area.append(note);
}

function showSignedIn(area, claims) {
  const note = document.createElement("p");
  note.id = "signed-in";
  note.textContent = `Signed in as ${claims.name || claims.sub}`;
  area.replaceChildren(note);
}

function offerSignIn(area) {
  const button = document.createElement("button");
  button.id = "sign-in";
  button.type = "button";
  button.textContent = "Sign in";
  // The captioner page signs in for captioning (`data-for="caption"` on the area).
  const purpose = area.dataset.for ? `&for=${encodeURIComponent(area.dataset.for)}` : "";
  button.addEventListener("click", () => {
    const room = $("room").value.trim();
    if (!$("room").reportValidity()) return;
    location.assign(`/auth/login?room=${encodeURIComponent(room)}${purpose}`);
  });
  if (purpose) {
    area.replaceChildren(button);
    return;
  }
  const review = document.createElement("a");
  review.id = "sign-in-review";
  review.href = "/auth/login?for=review";
  review.textContent = "Review captions";
  area.replaceChildren(button, " ", review);
}

async function start() {
  const area = $("signin-area");
  if (!area) return;
  const { token, error } = takeFragment();
  if (token) {
    $("token").value = token.slice(0, 4096);
    const claims = tokenClaims(token);
    if (claims) {
      if (!$("name").value && claims.name) $("name").value = String(claims.name).slice(0, 64);
      showSignedIn(area, claims);
      return;
    }
  }
  let config = { sign_in: false };
  try {
    const reply = await fetch("/auth/config");
    if (reply.ok) config = await reply.json();
  } catch {
    // A server without access control: no sign-in to offer.
  }
  if (config.sign_in) offerSignIn(area);
  if (error) showSignInError(area, error);
}

start();

// Caption display settings, remembered in localStorage across visits.

const KEY = "livecaptions.settings.v1";

export const CHOICES = Object.freeze({
  size: ["s", "m", "l", "xl"],
  colors: ["white-box", "yellow-black", "white-black", "black-white"],
  position: ["bottom", "top"],
  captionSources: ["room", "human", "automatic", "both"],
  tilesPerPage: ["auto", "1", "4", "9"],
});

export const DEFAULTS = Object.freeze({
  size: "m", colors: "white-box", position: "bottom", subtitles: true, language: "",
  captionSources: "room", underlineUncertain: false, captionsUnderTiles: false, syncMode: false,
  tilesPerPage: "auto",
});

const FLAGS = ["subtitles", "underlineUncertain", "captionsUnderTiles", "syncMode"];

/** The stored settings, each value checked: a stale or hand-edited entry falls back to its default. */
export function loadSettings(storage = window.localStorage) {
  let stored = {};
  try { stored = JSON.parse(storage.getItem(KEY) ?? "{}") ?? {}; } catch { stored = {}; }
  const settings = { ...DEFAULTS };
  for (const [key, allowed] of Object.entries(CHOICES)) {
    if (allowed.includes(stored[key])) settings[key] = stored[key];
  }
  for (const key of FLAGS) if (typeof stored[key] === "boolean") settings[key] = stored[key];
  if (typeof stored.language === "string" && /^[A-Za-z]{0,8}(-[A-Za-z0-9]{1,8})*$/.test(stored.language)) {
    settings.language = stored.language;
  }
  return settings;
}

export function saveSettings(settings, storage = window.localStorage) {
  try { storage.setItem(KEY, JSON.stringify(settings)); } catch { /* private mode: not remembered */ }
}

/** Show `settings` on the caption area (CSS reads its data attributes). */
export function applySettings(area, settings) {
  area.dataset.size = settings.size;
  area.dataset.colors = settings.colors;
  area.dataset.position = settings.position;
}

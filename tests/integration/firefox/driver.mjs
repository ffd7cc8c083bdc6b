// Firefox for the real-browser tests: Debian's firefox-esr, driven by puppeteer-core over WebDriver
// BiDi, behind a line protocol the Python tests speak (tests/integration/firefox.py). Playwright
// drives only its own patched Firefox builds; puppeteer drives the Firefox people actually run.
//
// One request per stdin line, {"id": n, "op": name, ...arguments}; one reply per stdout line,
// {"id": n, "ok": result} or {"id": n, "error": message}. Requests run concurrently. The process
// closes its browser and exits when stdin ends, so a test that dies leaves no Firefox behind.

import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

let browser = null;
const contexts = new Map();
const pages = new Map();
let nextId = 1;

function keep(map, value) {
  const id = nextId++;
  map.set(id, value);
  return id;
}

function page(id) {
  const found = pages.get(id);
  if (!found) throw new Error(`no page ${id}`);
  return found;
}

const ops = {
  async launch({ executablePath, prefs, env }) {
    browser = await puppeteer.launch({
      browser: "firefox", executablePath, headless: true, extraPrefsFirefox: prefs,
      env: { ...process.env, ...(env ?? {}) },
    });
    return browser.version();
  },
  async newContext() {
    return keep(contexts, await browser.createBrowserContext());
  },
  async newPage({ context }) {
    const opened = await contexts.get(context).newPage();
    const id = keep(pages, opened);
    opened.on("console", (message) => {
      if (message.type() === "error") process.stderr.write(`firefox page ${id}: ${message.text()}\n`);
    });
    return id;
  },
  async initScript({ page: id, script }) {
    await page(id).evaluateOnNewDocument(script);
  },
  async viewport({ page: id, width, height }) {
    await page(id).setViewport({ width, height });
  },
  async goto({ page: id, url }) {
    await page(id).goto(url);
  },
  async reload({ page: id }) {
    await page(id).reload();
  },
  async evaluate({ page: id, expression }) {
    return page(id).evaluate(expression);
  },
  async waitFor({ page: id, expression, timeout, polling }) {
    await page(id).waitForFunction(expression, { timeout, polling });
  },
  // A person clicks and types in the tab in front; Firefox also holds back getUserMedia for a
  // page in a background tab until it comes to the front.
  // The element is scrolled to the middle first, inside any scrolling box (a dialog's
  // buttons): puppeteer clicks where the element is, visible or not.
  async click({ page: id, selector }) {
    await page(id).bringToFront();
    const element = await page(id).waitForSelector(selector, { timeout: 10000 });
    await element.evaluate((e) => e.scrollIntoView({ block: "center", inline: "center" }));
    await element.click();
    await element.dispose();
  },
  async press({ page: id, key }) {
    await page(id).bringToFront();
    await page(id).keyboard.press(key);
  },
  async closeContext({ context }) {
    const closing = contexts.get(context);
    contexts.delete(context);
    for (const [id, opened] of pages) {
      if (opened.browserContext() === closing) pages.delete(id);
    }
    await closing.close();
  },
};

async function serve(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    process.stdout.write(`${JSON.stringify({ id: null, error: `not JSON: ${line.slice(0, 80)}` })}\n`);
    return;
  }
  const op = ops[request.op];
  try {
    if (!op) throw new Error(`unknown op ${request.op}`);
    const ok = await op(request);
    process.stdout.write(`${JSON.stringify({ id: request.id, ok: ok ?? null })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ id: request.id, error: String(error?.message ?? error) })}\n`);
  }
}

const input = createInterface({ input: process.stdin });
input.on("line", (line) => { serve(line); });
input.on("close", async () => {
  try { await browser?.close(); } finally { process.exit(0); }
});

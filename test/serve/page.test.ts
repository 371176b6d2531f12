// The page at / in a real headless browser (Debian's chromium driven by puppeteer-core): it loads the models and a
// user's history, a request streams into both panes, the FlyThinker pane's text equals the API's for the same seed
// and sampling, its tokens are shaded by the thought's influence and plotted, and it makes no request elsewhere.
// The screenshot goes to $FLYTHINKER_SCREENSHOT when set (the README's), else to a temporary folder.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { FlyThinkerServer } from "../../src/serve/server.ts";
import { makeServedFixture, type ServedFixture } from "./fixtures.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

let fx: ServedFixture;
let server: FlyThinkerServer;

before(async () => {
  if (skip) return;
  fx = await makeServedFixture();
  server = await FlyThinkerServer.start({
    models: [{ name: "flythinker", dir: fx.fly }, { name: "sft", dir: fx.sft }],
    data: fx.data,
    port: 0,
  });
});

after(async () => {
  await server?.shutdown(1000);
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

test("the page streams FlyThinker and SFT side by side, with the API's text and influence shading", { skip }, async () => {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 860 });
    const elsewhere: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(server.url)) elsewhere.push(r.url());
    });
    await page.goto(server.url + "/", { waitUntil: "networkidle0" });
    await page.waitForSelector("body[data-ready='1']");
    assert.equal(await page.$eval("#left", (e) => (e as HTMLSelectElement).value), "flythinker");
    assert.equal(await page.$eval("#right", (e) => (e as HTMLSelectElement).value), "sft");

    const record = fx.records[0]!;
    await page.select("#user", record.user);
    const history = await page.$eval("#history", (e) => e.textContent ?? "");
    for (const item of record.profile) assert.ok(history.includes(item.output), `history shows ${item.output}`);
    await page.$eval("#prompt", (e, v) => ((e as HTMLTextAreaElement).value = v), record.input);
    await page.$eval("#seed", (e) => ((e as HTMLInputElement).value = "7"));
    await page.$eval("#temperature", (e) => ((e as HTMLInputElement).value = "1"));
    await page.$eval("#max_tokens", (e) => ((e as HTMLInputElement).value = "40"));
    await page.click("#go");
    await page.waitForFunction(() => ["pane-left", "pane-right"].every((id) => document.getElementById(id)!.dataset.state === "done"), { timeout: 60_000 });

    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const params = { messages: [{ role: "user" as const, content: record.input }], user: record.user, max_tokens: 40, seed: 7, temperature: 1 };
    const flyText = (await client.chat.completions.create({ ...params, model: "flythinker" })).choices[0]!.message.content!;
    const sftText = (await client.chat.completions.create({ ...params, model: "sft" })).choices[0]!.message.content!;
    assert.ok(flyText.length > 0);
    assert.equal(await page.$eval("#pane-left .out", (e) => e.textContent), flyText);
    assert.equal(await page.$eval("#pane-right .out", (e) => e.textContent), sftText);

    // Influence: every FlyThinker token after the first carries a KL, shaded (the largest at full strength) and plotted.
    const shading = await page.$$eval("#pane-left .out span[data-kl]", (spans) =>
      spans.map((s) => ({ kl: Number((s as HTMLElement).dataset.kl), bg: getComputedStyle(s).backgroundColor })));
    assert.ok(shading.length >= 5, `shaded tokens: ${shading.length}`);
    assert.ok(shading.every((s) => s.kl >= 0));
    const maxKl = Math.max(...shading.map((s) => s.kl));
    assert.ok(maxKl > 0, "the thoughts change the prediction somewhere");
    const alpha = (bg: string) => Number(/rgba\([^)]*,\s*([\d.]+)\)/.exec(bg)?.[1] ?? (bg.startsWith("rgb(") ? 1 : 0));
    const strongest = shading.find((s) => s.kl === maxKl)!;
    assert.ok(Math.abs(alpha(strongest.bg) - 0.85) < 0.01, `the strongest token is shaded fully: ${strongest.bg}`);
    assert.equal(await page.$$eval("#pane-right .out span[data-kl]", (s) => s.length), 0, "SFT has no thoughts");
    const points = await page.$eval("#pane-left svg polyline", (p) => p.getAttribute("points")!.trim().split(/\s+/).length);
    assert.equal(points, shading.length);
    const rate = await page.$eval("#pane-left .rate", (e) => e.textContent ?? "");
    assert.match(rate, /^[\d.]+ tokens\/s$/);
    assert.deepEqual(elsewhere, [], "no request leaves the server");

    const shot = process.env.FLYTHINKER_SCREENSHOT ?? join(fx.root, "page.png");
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
    assert.deepEqual([...readFileSync(shot).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "a PNG was written");
  } finally {
    await browser.close();
  }
});

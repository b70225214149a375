// The playground page at / in a real (headless) Chromium: a message typed and sent streams its
// answer in piece by piece, and the live metrics panel shows the server's numbers.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import path from "node:path";
import { programMissing, skipReason } from "./dependencies.mjs";
import { startServer } from "./server_fixture.mjs";
import { fetchMetrics, metricValue } from "./metrics.mjs";
import { waitFor } from "./timing.mjs";

const CHROMIUM = "/usr/bin/chromium";
const skip = skipReason(programMissing(CHROMIUM));
const { chromium } = skip ? {} : await import("playwright-core");

const QUESTION = "Who led the children of Israel out of Egypt?";

describe("web page", { skip }, () => {
  let server, browser, page;
  const pageErrors = [];

  before(async () => {
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("the page loads self-contained and names the model", async () => {
    const external = [];
    page.on("request", (r) => { if (!r.url().startsWith(server.url)) external.push(r.url()); });
    const response = await page.goto(`${server.url}/`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()["content-type"], /^text\/html/);
    await page.locator("#model-name").filter({ hasText: "demo" }).waitFor({ timeout: 10_000 });
    assert.deepEqual(external, [], "the page fetched something from elsewhere");
    // Every input has a label (the accessible name a screen reader reads).
    for (const id of ["prompt", "system", "temperature", "top-p", "max-tokens", "seed", "api-key"])
      assert.ok((await page.getByLabel(await page.locator(`label[for="${id}"]`).innerText()).count()) >= 1, id);
  });

  test("a sent message streams its answer token by token", async (t) => {
    // Greedy and seeded, so that the page's assembled text can be compared with the API's.
    await page.fill("#temperature", "0");
    await page.fill("#seed", "1");
    await page.fill("#max-tokens", "64");
    // Every text the answer shows, as it changes: proof it grew piece by piece.
    await page.evaluate(() => {
      window.answerTexts = [];
      new MutationObserver((records) => {
        for (const r of records)
          for (const node of r.addedNodes)
            if (node.nodeType === Node.TEXT_NODE && node.parentElement?.matches(".message.assistant .content"))
              window.answerTexts.push(node.data);
      }).observe(document.getElementById("messages"), { subtree: true, childList: true });
    });
    await page.fill("#prompt", QUESTION);
    await page.click("#send");
    const answer = page.locator(".message.assistant").last();
    await answer.and(page.locator('[data-state="done"], [data-state="error"]')).waitFor({ timeout: 60_000 });
    assert.equal(await answer.getAttribute("data-state"), "done", await answer.innerText());
    const text = await answer.locator(".content").innerText();
    const texts = await page.evaluate(() => window.answerTexts);
    t.diagnostic(`answer in ${texts.length} steps: ${JSON.stringify(text)}`);
    assert.ok(text.length > 0, "empty answer");
    assert.ok(texts.length >= 3, `the answer appeared in ${texts.length} steps: not streamed`);
    for (let i = 1; i < texts.length; i++)
      assert.ok(texts[i].startsWith(texts[i - 1]) && texts[i].length > texts[i - 1].length, "the text only grows");
    assert.match(await answer.locator(".stats").innerText(), /\d+ tokens/);
    assert.equal(await page.locator(".message.user").last().innerText(), `You\n${QUESTION}`);

    const api = await (await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: QUESTION }], temperature: 0, top_p: 0.95,
                             max_tokens: 64, seed: 1 }) })).json();
    assert.equal(texts.at(-1), api.choices[0].message.content, "the page shows what the API answers");
    assert.equal(await page.locator("#send").isEnabled(), true);
    assert.equal(await page.locator("#stop").isDisabled(), true);
  });

  test("the metrics panel follows the server under load", async (t) => {
    const shown = (id) => page.locator(`#${id}`).innerText();
    // The panel polls every 2 s; the answer above (and the API's) are counted by the next poll.
    await page.waitForFunction(() => Number(document.getElementById("metrics-requests").textContent) >= 2,
                               null, { timeout: 10_000 });
    for (const id of ["metrics-throughput", "metrics-running", "metrics-waiting", "metrics-kv", "metrics-ttft"])
      assert.ok(Number.isFinite(Number(await shown(id))), `${id} shows ${await shown(id)}`);
    assert.equal(Number(await shown("metrics-running")), 0);
    assert.ok(Number(await shown("metrics-ttft")) > 0);

    // Background clients keep the engine busy until the panel has seen them.
    let loading = true;
    const background = Array.from({ length: 8 }, async (_, i) => {
      while (loading) {
        const response = await fetch(`${server.url}/v1/completions`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ prompt: "And it came to pass", max_tokens: 200, ignore_eos: true, seed: i }) });
        assert.equal(response.status, 200);
        await response.json();
      }
    });
    try {
      await page.waitForFunction(() => Number(document.getElementById("metrics-running").textContent) > 0 &&
                                        Number(document.getElementById("metrics-throughput").textContent) > 0 &&
                                        Number(document.getElementById("metrics-kv").textContent) > 0,
                                 null, { timeout: 20_000 });
      await page.fill("#max-tokens", "100");
      await page.fill("#prompt", "Tell me about the flood.");
      await page.click("#send");
      await page.locator('.message.assistant[data-state="done"]').nth(1).waitFor({ timeout: 60_000 });
      // A few more polls, so that the sparkline has a shape.
      await page.waitForFunction(() => document.querySelector("#sparkline polyline").getAttribute("points")
                                         .trim().split(" ").length >= 4, null, { timeout: 15_000 });
      t.diagnostic(`panel: ${(await page.locator("#metrics-panel").innerText()).replace(/\s+/g, " ")}`);
      const dir = process.env.TURBOLM_SCREENSHOT_DIR || os.tmpdir();
      const file = path.join(dir, "turbolm-web-page.png");
      await page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot: ${file}`);
    } finally {
      loading = false;
      await Promise.all(background);
    }
    // Once the load is gone the panel says so.
    await page.waitForFunction(() => document.getElementById("metrics-running").textContent === "0" &&
                                      document.getElementById("metrics-kv").textContent === "0.0",
                               null, { timeout: 10_000 });
    assert.deepEqual(pageErrors, [], "errors in the page");
  });

  test("stop aborts the stream, and the server cancels the request", async () => {
    // The demo model often ends early: this one request is made to run as long as the context
    // allows, and stop is pressed at its first token by the page itself (an observer of the
    // conversation clicks the button as the token is shown). A click from the test, a round trip
    // later, could land after a fast machine had streamed all 470 tokens, with stop disabled again.
    await page.route("**/v1/chat/completions", (route) => {
      const body = JSON.parse(route.request().postData());
      route.continue({ postData: JSON.stringify({ ...body, max_tokens: 470, ignore_eos: true }) });
    });
    const aborted = async () => metricValue(await fetchMetrics(server.url), "turbolm:request_success_total",
                                            { finished_reason: "abort" });
    const abortedBefore = await aborted();
    try {
      // A fresh conversation, so that the prompt and 470 tokens fit in the context.
      await page.click("#clear");
      assert.equal(await page.locator(".message").count(), 0);
      await page.fill("#prompt", "Tell me everything.");
      await page.evaluate(() => {
        const observer = new MutationObserver(() => {
          const last = [...document.querySelectorAll(".message.assistant")].at(-1);
          if (!last || last.querySelector(".content").textContent.length === 0) return;
          observer.disconnect();
          document.getElementById("stop").click();
        });
        observer.observe(document.getElementById("messages"), { childList: true, subtree: true, characterData: true });
      });
      await page.click("#send");
      const answer = page.locator(".message.assistant").last();
      await answer.and(page.locator('[data-state="stopped"]')).waitFor({ timeout: 30_000 }).catch(async (e) => {
        throw new Error(`${e.message}; the answer (${await answer.getAttribute("data-state")}): ${await answer.innerText()}`);
      });
      assert.equal(await page.locator("#send").isEnabled(), true);
    } finally {
      await page.unroute("**/v1/chat/completions");
    }
    await waitFor(async () => {
      const m = await fetchMetrics(server.url);
      const running = metricValue(m, "turbolm:num_requests_running");
      if (running !== 0) throw new Error(`running ${running}`);
      return true;
    }, { timeoutMs: 5_000, what: "the stopped request to leave the engine" });
    assert.equal(await aborted(), abortedBefore + 1, "the stopped request counts as aborted");
    assert.deepEqual(pageErrors, [], "errors in the page");
  });

  describe("with --api-key", () => {
    let keyed, context;
    before(async () => {
      keyed = await startServer({ args: ["--api-key", "sesame-123"] });
      context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    });
    after(async () => {
      await context?.close();
      await keyed?.stop();
    });

    test("the key field is sent as a Bearer token and remembered", async () => {
      const keyedPage = await context.newPage();
      await keyedPage.goto(`${keyed.url}/`);
      await keyedPage.locator("#model-name").filter({ hasText: "API key needed" }).waitFor({ timeout: 10_000 });
      await keyedPage.fill("#api-key", "sesame-123");
      await keyedPage.press("#api-key", "Tab");  // "change" fires when the field is left
      await keyedPage.locator("#model-name").filter({ hasText: "demo" }).waitFor({ timeout: 10_000 });
      await keyedPage.fill("#max-tokens", "16");
      await keyedPage.fill("#prompt", "Hello");
      await keyedPage.press("#prompt", "Enter");
      const answer = keyedPage.locator(".message.assistant").last();
      await answer.and(keyedPage.locator('[data-state="done"], [data-state="error"]')).waitFor({ timeout: 30_000 });
      assert.equal(await answer.getAttribute("data-state"), "done", await answer.innerText());

      await keyedPage.reload();
      assert.equal(await keyedPage.inputValue("#api-key"), "sesame-123");
      await keyedPage.locator("#model-name").filter({ hasText: "demo" }).waitFor({ timeout: 10_000 });
    });
  });
});

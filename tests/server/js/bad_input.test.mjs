// Hostile and broken clients: each gets a precise error or loses its own connection, and nothing
// they do leaks requests or KV cache or slows down the well-behaved clients next to them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { skipReason } from "./dependencies.mjs";
import { startServer } from "./server_fixture.mjs";
import { fetchMetrics, metricValue } from "./metrics.mjs";
import { sleep, waitFor, withTimeout } from "./timing.mjs";
import { connect, statusOf, untilClosed } from "./raw_http.mjs";

const skip = skipReason();
const MESSAGES = [{ role: "user", content: "Hello" }];

describe("bad input and bad clients", { skip }, () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  const postRaw = (path, body) => fetch(`${server.url}${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body });
  const post = (path, json) => postRaw(path, JSON.stringify(json));

  // A 400 in OpenAI's error shape whose message names what was wrong.
  async function assert400(response, mentions) {
    const text = await response.text();
    assert.equal(response.status, 400, text);
    const body = JSON.parse(text);
    assert.equal(body.error.code, 400, text);
    assert.equal(typeof body.error.message, "string");
    if (mentions) assert.match(body.error.message, mentions);
  }

  async function assertRunningAndKvBackToZero() {
    await waitFor(async () => {
      const m = await fetchMetrics(server.url);
      const running = metricValue(m, "turbolm:num_requests_running");
      const waiting = metricValue(m, "turbolm:num_requests_waiting");
      const kv = metricValue(m, "turbolm:kv_cache_usage_perc");
      if (running !== 0 || waiting !== 0 || kv !== 0) throw new Error(`running ${running}, waiting ${waiting}, kv ${kv}`);
      return true;
    }, { timeoutMs: 5_000, what: "running requests and KV cache usage back to 0" });
  }

  async function assertStillServes() {
    const started = Date.now();
    const response = await post("/v1/completions", { prompt: "In the beginning", max_tokens: 8 });
    assert.equal(response.status, 200);
    assert.ok((await response.json()).choices[0].text.length > 0);
    return Date.now() - started;
  }

  test("malformed JSON is a 400", async () => {
    for (const body of ["{not json", "", "[1, 2]", "\"just a string\"", '{"messages": [}', "{\"a\":1} trailing"])
      await assert400(await postRaw("/v1/chat/completions", body));
    await assert400(await postRaw("/v1/completions", "{\"prompt\": \"x\""));
  });

  test("wrong types are a 400 naming the field", async () => {
    const cases = [
      [{ messages: "hello" }, /messages/],
      [{ messages: [{ content: "no role" }] }, /role/],
      [{ messages: MESSAGES, temperature: "hot" }, /temperature/],
      [{ messages: MESSAGES, max_tokens: "10" }, /max_tokens/],
      [{ messages: MESSAGES, max_tokens: 1.5 }, /max_tokens/],
      [{ messages: MESSAGES, stream: "yes" }, /stream/],
      [{ messages: MESSAGES, n: 0 }, /\bn\b/],
      [{ messages: MESSAGES, stop: [1, 2] }, /stop/],
      [{ messages: MESSAGES, seed: "lucky" }, /seed/],
    ];
    for (const [body, mentions] of cases) await assert400(await post("/v1/chat/completions", body), mentions);
    await assert400(await post("/v1/completions", { prompt: { text: "x" } }), /prompt/);
    await assert400(await post("/v1/completions", { prompt: [-5] }), /prompt/);
  });

  test("unknown fields are a 400", async () => {
    await assert400(await post("/v1/chat/completions", { messages: MESSAGES, frobnicate: true }), /frobnicate/);
    await assert400(await post("/v1/completions", { prompt: "x", temprature: 0.5 }), /temprature/);
    await assert400(await post("/v1/chat/completions", {
      messages: MESSAGES, stream: true, stream_options: { include_usage: true, colour: "red" } }), /colour/);
  });

  test("negative, zero and huge max_tokens are a 400", async () => {
    for (const max_tokens of [-1, 0, 100_000, 2 ** 53, Number.MAX_SAFE_INTEGER])
      await assert400(await post("/v1/chat/completions", { messages: MESSAGES, max_tokens }), /max_tokens|context/);
    await assert400(await post("/v1/completions", { prompt: "x", max_tokens: -100 }), /max_tokens/);
    // Beyond 64 bits.
    await assert400(await postRaw("/v1/completions", '{"prompt": "x", "max_tokens": 99999999999999999999999}'));
  });

  test("a prompt longer than the context is a 400", async () => {
    const prompt = "And the LORD spake unto Moses, saying, ".repeat(120);
    await assert400(await post("/v1/completions", { prompt, max_tokens: 1 }), /context length/);
    await assert400(await post("/v1/chat/completions", { messages: [{ role: "user", content: prompt }] }), /context length/);
    await assert400(await post("/v1/completions", { prompt: Array(600).fill(5), max_tokens: 1 }), /context length/);
  });

  // 100 MiB announced; the server must refuse before reading it all (its limit is 8 MiB).
  for (const framing of ["content-length", "chunked"]) {
    test(`a 100 MB body (${framing}) is refused with 413`, async () => {
      const socket = await connect(server.url);
      const closed = untilClosed(socket);
      const size = 100 << 20;
      socket.write("POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
        (framing === "chunked" ? "Transfer-Encoding: chunked\r\n\r\n" : `Content-Length: ${size}\r\n\r\n`));
      const piece = Buffer.alloc(1 << 20, "a");
      let sent = 0;
      let open = true;
      socket.once("close", () => { open = false; });
      while (open && sent < size) {
        const chunk = framing === "chunked"
          ? Buffer.concat([Buffer.from(piece.length.toString(16) + "\r\n"), piece, Buffer.from("\r\n")]) : piece;
        if (!socket.write(chunk)) await new Promise((r) => { socket.once("drain", r); socket.once("close", r); });
        sent += piece.length;
      }
      const reply = await withTimeout(closed, 15_000);
      socket.destroy();
      assert.notEqual(reply, null, "the connection stayed open");
      assert.equal(statusOf(reply), 413, `reply: ${JSON.stringify(reply.slice(0, 300))}`);
      assert.ok(sent < size, "the server read the whole 100 MB before refusing");
      await assertStillServes();
    });
  }

  test("slow-loris clients are cut off while others are served at once", async (t) => {
    const slowClients = await Promise.all(Array.from({ length: 20 }, () => connect(server.url)));
    const closedAt = slowClients.map((socket) => untilClosed(socket).then(() => Date.now()));
    const started = Date.now();
    let byte = 0;
    const header = "GET /v1/models HTTP/1.1\r\nHost: test\r\nX-Slow: " + "z".repeat(1000);
    const drip = setInterval(() => {
      for (const socket of slowClients) if (!socket.destroyed) socket.write(header[byte % header.length]);
      byte++;
    }, 500);
    try {
      await sleep(1500);
      const latency = await assertStillServes();
      assert.ok(latency < 2000, `a normal request took ${latency} ms next to slow clients`);
      const modelsStarted = Date.now();
      assert.equal((await fetch(`${server.url}/v1/models`)).status, 200);
      assert.ok(Date.now() - modelsStarted < 1000);

      const cutOff = await withTimeout(Promise.all(closedAt), 30_000);
      assert.notEqual(cutOff, null, "slow clients were still connected after 30 s");
      const seconds = (Math.max(...cutOff) - started) / 1000;
      t.diagnostic(`slow clients cut off after ${seconds.toFixed(1)} s, having sent ${byte} bytes each`);
      assert.ok(byte < header.length, "the whole header was sent: not a slow client any more");
    } finally {
      clearInterval(drip);
      for (const socket of slowClients) socket.destroy();
    }
    await assertStillServes();
  });

  test("clients that vanish mid-stream free their requests and KV cache", async (t) => {
    const before = await fetchMetrics(server.url);
    const aborted = (m) => metricValue(m, "turbolm:request_success_total", { finished_reason: "abort" });
    const body = JSON.stringify({ messages: MESSAGES, max_tokens: 400, ignore_eos: true, stream: true });
    const clients = 8;
    await Promise.all(Array.from({ length: clients }, async () => {
      const socket = await connect(server.url);
      socket.on("error", () => {});
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n` +
                   `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      let received = "";
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no stream data within 10 s")), 10_000);
        socket.on("data", (d) => {
          received += d;
          if (received.includes("data: {")) { clearTimeout(timer); resolve(); }
        });
      });
      assert.equal(statusOf(received), 200);
      socket.destroy();
    }));
    const during = await fetchMetrics(server.url);
    t.diagnostic(`right after the disconnects: running ${metricValue(during, "turbolm:num_requests_running")}, ` +
                 `kv ${metricValue(during, "turbolm:kv_cache_usage_perc")}`);
    await assertRunningAndKvBackToZero();
    const afterwards = await fetchMetrics(server.url);
    assert.equal(aborted(afterwards) - aborted(before), clients, "each vanished client counts as one aborted request");
    // Cancelled, not run to the end: far fewer than clients * 400 tokens were generated.
    const generated = metricValue(afterwards, "turbolm:generation_tokens_total") -
                      metricValue(before, "turbolm:generation_tokens_total");
    assert.ok(generated < clients * 400, `${generated} tokens generated for ${clients} abandoned streams`);
    await assertStillServes();
  });
});

// 1,000 streaming clients at once for a minute (TURBOLM_LOAD_SECONDS): every request must succeed
// with a complete stream, and the server's memory must stay flat once warmed up.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import { skipReason } from "./dependencies.mjs";
import { startServer } from "./server_fixture.mjs";
import { fetchMetrics, metricValue } from "./metrics.mjs";
import { sleep } from "./timing.mjs";
import { streamOnce } from "./streaming_client.mjs";

const skip = skipReason();
const CLIENTS = Number(process.env.TURBOLM_LOAD_CLIENTS || 1000);
const SECONDS = Number(process.env.TURBOLM_LOAD_SECONDS || 60);
// Long enough for the KV pool to have been cycled through (RSS plateaus after ~15 s here).
const WARMUP_SECONDS = Math.min(SECONDS / 2, Math.max(15, SECONDS / 4));
const RSS_GROWTH_LIMIT = 1.25;

const PROMPTS = ["In the beginning", "And Moses said unto the LORD", "Blessed are the meek", "The LORD is my shepherd"];

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]);
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

describe(`load: ${CLIENTS} concurrent streaming clients`, { skip }, () => {
  let server;
  // The KV cache is allocated once but its pages are touched lazily, and the prefix cache prefers
  // never-used blocks to cached ones, so with the default CPU pool (3.6 GiB) RSS climbs for minutes
  // without any leak. A pool this small (~120 MiB, still room for the 256 running requests) is
  // cycled through during warm-up, so that growth after it means memory that is not given back.
  before(async () => { server = await startServer({ args: ["--kv-fraction", "0.03"] }); });
  after(async () => { await server?.stop({ timeoutMs: 60_000 }); });

  test(`${CLIENTS} clients for ${SECONDS} s: no failures, memory flat`, { timeout: (SECONDS + 240) * 1000 }, async (t) => {
    // One socket per client, kept alive between its requests: the connections really are concurrent.
    const connections = new http.Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS });
    const stats = { requests: 0, tokens: 0, failures: [], ttfts: [], inFlight: 0, peakInFlight: 0 };
    const started = Date.now();
    const deadline = started + SECONDS * 1000;

    async function client(i) {
      for (let round = 0; Date.now() < deadline; round++) {
        const max_tokens = 16 + ((i + round) % 17);
        const prompt = PROMPTS[(i + round) % PROMPTS.length];
        const [path, body] = i % 2
          ? ["/v1/completions", { prompt, max_tokens, temperature: 0.8, seed: i * 7919 + round }]
          : ["/v1/chat/completions", { messages: [{ role: "user", content: prompt }], max_tokens, temperature: 0.8 }];
        body.stream = true;
        body.stream_options = { include_usage: true };
        stats.inFlight++;
        stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
        try {
          const r = await streamOnce(server.url, connections, body, path);
          stats.requests++;
          stats.tokens += r.tokens;
          if (r.ttft !== null) stats.ttfts.push(r.ttft);
        } catch (e) {
          stats.failures.push(e.message);
        } finally {
          stats.inFlight--;
        }
      }
    }

    // Samples what the server sees: its queue (proof of concurrency) and its memory.
    let peakEngineRequests = 0, warmRss = null, peakRss = 0, clientsDone = false;
    const rssTrace = [];  // MiB, once a second
    const sampler = (async () => {
      while (!clientsDone) {
        const m = await fetchMetrics(server.url);
        peakEngineRequests = Math.max(peakEngineRequests,
          metricValue(m, "turbolm:num_requests_running") + metricValue(m, "turbolm:num_requests_waiting"));
        const rss = rssKiB(server.pid);
        rssTrace.push(Math.round(rss / 1024));
        peakRss = Math.max(peakRss, rss);
        if (warmRss === null && Date.now() - started >= WARMUP_SECONDS * 1000) warmRss = rss;
        await sleep(1000);
      }
    })();

    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    clientsDone = true;
    await sampler;
    connections.destroy();
    const elapsed = (Date.now() - started) / 1000;
    await sleep(500);  // let freed memory settle before the last measurement
    const finalRss = rssKiB(server.pid);

    const ttfts = stats.ttfts.sort((a, b) => a - b);
    t.diagnostic(`${stats.requests} requests, ${stats.tokens} tokens in ${elapsed.toFixed(1)} s ` +
                 `(${(stats.tokens / elapsed).toFixed(0)} tok/s, ${(stats.requests / elapsed).toFixed(1)} req/s); ` +
                 `TTFT p50 ${percentile(ttfts, 0.5).toFixed(0)} ms, p99 ${percentile(ttfts, 0.99).toFixed(0)} ms`);
    t.diagnostic(`peak ${stats.peakInFlight} requests in flight (client), ${peakEngineRequests} running+waiting (server)`);
    t.diagnostic(`RSS after warm-up ${(warmRss / 1024).toFixed(0)} MiB, peak ${(peakRss / 1024).toFixed(0)} MiB, ` +
                 `after the run ${(finalRss / 1024).toFixed(0)} MiB; each second: ${rssTrace.join(" ")}`);

    assert.deepEqual(stats.failures.slice(0, 5), [], `${stats.failures.length} of ${stats.requests + stats.failures.length} requests failed`);
    assert.equal(stats.peakInFlight, CLIENTS, "not all clients were in flight at once");
    assert.ok(stats.requests >= CLIENTS, `only ${stats.requests} requests completed`);
    assert.ok(peakEngineRequests >= CLIENTS * 0.9,
              `the server never held more than ${peakEngineRequests} requests: the clients were not concurrent`);
    assert.ok(warmRss !== null, "the run ended before the warm-up did");
    assert.ok(finalRss <= warmRss * RSS_GROWTH_LIMIT,
              `RSS grew from ${warmRss} KiB after warm-up to ${finalRss} KiB (limit x${RSS_GROWTH_LIMIT})`);

    // Everything has finished: nothing may be left running or holding KV cache.
    const m = await fetchMetrics(server.url);
    assert.equal(metricValue(m, "turbolm:num_requests_running"), 0);
    assert.equal(metricValue(m, "turbolm:num_requests_waiting"), 0);
    assert.equal(metricValue(m, "turbolm:kv_cache_usage_perc"), 0);
  });
});

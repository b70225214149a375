// A real Prometheus scrapes /metrics: the exposition must parse (target "up", no scrape error) and
// the counters must arrive with the values the server reports.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { programMissing, skipReason } from "./dependencies.mjs";
import { startServer } from "./server_fixture.mjs";
import { fetchMetrics, metricValue } from "./metrics.mjs";
import { waitFor, withTimeout } from "./timing.mjs";

const PROMETHEUS = "/usr/bin/prometheus";
const skip = skipReason(programMissing(PROMETHEUS));

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

describe("Prometheus scraping /metrics", { skip }, () => {
  let server, prometheus, promUrl, dir, promLog = "";

  async function query(expr) {
    const response = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await response.json();
    if (body.status !== "success") throw new Error(`query ${expr}: ${JSON.stringify(body)}`);
    return body.data.result;
  }

  before(async () => {
    server = await startServer();
    dir = mkdtempSync(path.join(os.tmpdir(), "turbolm-prometheus-"));
    const target = new URL(server.url).host;
    writeFileSync(path.join(dir, "prometheus.yml"), [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: turbolm",
      "    scrape_interval: 1s",
      "    static_configs:",
      `      - targets: ["${target}"]`,
      "",
    ].join("\n"));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], { stdio: ["ignore", "pipe", "pipe"] });
    prometheus.stdout.on("data", (d) => { promLog += d; });
    prometheus.stderr.on("data", (d) => { promLog += d; });
    process.once("exit", () => prometheus.kill("SIGKILL"));
    await waitFor(async () => (await fetch(`${promUrl}/-/ready`)).status === 200,
                  { timeoutMs: 30_000, what: `Prometheus to be ready (log: ${promLog.slice(-500)})` });
  });

  after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      prometheus.kill("SIGTERM");
      await withTimeout(new Promise((r) => prometheus.once("exit", r)), 10_000);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    await server?.stop();
  });

  test("the target is up and its counters reach Prometheus", async (t) => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/v1/completions`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: "Let there be light", max_tokens: 12 }) });
      assert.equal(response.status, 200);
      await response.json();
    }
    const expected = metricValue(await fetchMetrics(server.url), "turbolm:generation_tokens_total");
    assert.ok(expected > 0);

    // Prometheus has the server's value once a scrape after the requests has landed.
    const result = await waitFor(async () => {
      const r = await query("turbolm:generation_tokens_total");
      if (r.length !== 1 || Number(r[0].value[1]) !== expected) throw new Error(JSON.stringify(r));
      return r;
    }, { timeoutMs: 30_000, intervalMs: 500, what: `turbolm:generation_tokens_total == ${expected} in Prometheus` });
    assert.equal(result[0].metric.job, "turbolm");
    assert.equal(result[0].metric.model_name, "demo");

    const targets = (await (await fetch(`${promUrl}/api/v1/targets`)).json()).data.activeTargets;
    assert.equal(targets.length, 1);
    assert.equal(targets[0].health, "up", `scrape error: ${targets[0].lastError}`);
    assert.equal(targets[0].lastError, "");

    // The histograms are usable: a TTFT median comes out as a number of seconds.
    const median = await waitFor(async () => {
      const r = await query("histogram_quantile(0.5, sum by (le) (turbolm:time_to_first_token_seconds_bucket))");
      const v = r.length === 1 ? Number(r[0].value[1]) : NaN;
      if (!(v > 0 && v < 60)) throw new Error(JSON.stringify(r));
      return v;
    }, { timeoutMs: 10_000, what: "a TTFT median" });
    const requests = await query('sum(turbolm:request_success_total{finished_reason="length"})');
    assert.ok(Number(requests[0].value[1]) >= 3, JSON.stringify(requests));
    t.diagnostic(`Prometheus sees ${expected} generated tokens, TTFT median ~${(median * 1000).toFixed(0)} ms`);
  });
});

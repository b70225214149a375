// Streaming as curl sees it: the exact bytes of the Server-Sent Events framing, without any client
// library smoothing over extra blank lines, CRs or a missing [DONE].
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { programMissing, skipReason } from "./dependencies.mjs";
import { startServer } from "./server_fixture.mjs";
import { parseSseStrict } from "./sse.mjs";

const skip = skipReason(programMissing("/usr/bin/curl"));

// POSTs `body` with `curl -sN`. The headers are dumped ahead of the body on stdout (-D -):
// curl 7.88 crashes dumping them to /dev/stderr when that is a socket, as node's pipes are.
function curlPost(url, body) {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-sSN", "-D", "-", "-H", "Content-Type: application/json",
                                 "--max-time", "60", "--data-binary", JSON.stringify(body), url]);
    let stdout = "", stderr = "", reads = 0;
    child.stdout.on("data", (d) => { stdout += d; reads++; });
    child.stderr.on("data", (d) => { stderr += d; });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (code !== 0) return reject(new Error(`curl exited ${code ?? signal}: ${stderr}`));
      const headEnd = stdout.indexOf("\r\n\r\n");
      if (headEnd < 0) return reject(new Error(`no end of headers in ${JSON.stringify(stdout.slice(0, 300))}`));
      const [statusLine, ...headerLines] = stdout.slice(0, headEnd).split("\r\n");
      const headers = {};
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: stdout.slice(headEnd + 4), reads });
    });
  });
}

function assertEventStream(reply) {
  assert.equal(reply.status, 200, reply.body);
  assert.match(reply.headers["content-type"], /^text\/event-stream/);
  assert.equal(reply.headers["content-length"], undefined, "a stream has no length");
  assert.equal(reply.headers["transfer-encoding"], "chunked");
  assert.ok(reply.body.endsWith("\n\ndata: [DONE]\n\n"), `ends with ${JSON.stringify(reply.body.slice(-60))}`);
  const events = parseSseStrict(reply.body);
  assert.equal(events.at(-1), "[DONE]");
  assert.equal(events.indexOf("[DONE]"), events.length - 1, "[DONE] only at the end");
  return events.slice(0, -1).map((data) => JSON.parse(data));
}

describe("SSE framing seen by curl", { skip }, () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test("chat stream: data lines, blank-line separated, [DONE] last", async (t) => {
    const reply = await curlPost(`${server.url}/v1/chat/completions`, {
      model: "demo", messages: [{ role: "user", content: "Tell me of Moses." }], max_tokens: 24, temperature: 0,
      stream: true, stream_options: { include_usage: true } });
    const chunks = assertEventStream(reply);
    assert.ok(chunks.length >= 3, `only ${chunks.length} chunks`);
    for (const c of chunks) assert.equal(c.object, "chat.completion.chunk");
    const finished = chunks.filter((c) => c.choices.length && c.choices[0].finish_reason);
    assert.equal(finished.length, 1, "one chunk carries the finish reason");
    const usage = chunks.at(-1).usage;
    assert.ok(usage && usage.completion_tokens > 0, `usage ${JSON.stringify(usage)}`);
    t.diagnostic(`${chunks.length} events in ${reply.reads} reads, ${usage.completion_tokens} tokens`);
  });

  test("completions stream: same framing, text pieces in order", async () => {
    const reply = await curlPost(`${server.url}/v1/completions`, {
      model: "demo", prompt: "And the earth was", max_tokens: 16, temperature: 0, stream: true });
    const chunks = assertEventStream(reply);
    for (const c of chunks) assert.equal(c.object, "text_completion");
    const text = chunks.map((c) => c.choices[0]?.text ?? "").join("");
    const plain = await (await fetch(`${server.url}/v1/completions`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "demo", prompt: "And the earth was", max_tokens: 16, temperature: 0 }) })).json();
    assert.equal(text, plain.choices[0].text);
  });

  test("a rejected streaming request is a plain JSON 400, not an event stream", async () => {
    const reply = await curlPost(`${server.url}/v1/chat/completions`, {
      model: "demo", messages: [{ role: "user", content: "hi" }], temperature: -1, stream: true });
    assert.equal(reply.status, 400);
    assert.match(reply.headers["content-type"], /^application\/json/);
    assert.match(JSON.parse(reply.body).error.message, /temperature/);
  });
});

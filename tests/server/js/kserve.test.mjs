// The KServe v2 (Open Inference Protocol) endpoints, with the generate extension that Triton's
// and KServe's LLM runtimes speak.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { skipReason } from "./dependencies.mjs";
import { startServer } from "./server_fixture.mjs";
import { parseSseStrict } from "./sse.mjs";

const skip = skipReason();
const PROMPT = "And God saw the light, that it was";

describe("KServe v2", { skip }, () => {
  let server;
  const get = (path) => fetch(`${server.url}${path}`);
  const post = (path, body) => fetch(`${server.url}${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test("health: live and ready", async () => {
    assert.equal((await get("/v2/health/live")).status, 200);
    assert.equal((await get("/v2/health/ready")).status, 200);
  });

  test("model metadata, readiness and configuration", async () => {
    const meta = await (await get("/v2/models/demo")).json();
    assert.equal(meta.name, "demo");
    assert.ok(meta.versions.includes("1"));
    const inputs = Object.fromEntries(meta.inputs.map((i) => [i.name, i]));
    assert.equal(inputs.text_input.datatype, "BYTES");
    assert.equal(inputs.max_tokens.datatype, "INT32");
    assert.deepEqual(meta.outputs.map((o) => o.name), ["text_output"]);

    assert.equal((await get("/v2/models/demo/ready")).status, 200);
    assert.equal((await get("/v2/models/demo/versions/1/ready")).status, 200);

    const config = await (await get("/v2/models/demo/config")).json();
    assert.equal(config.name, "demo");
    assert.equal(config.parameters.max_model_len.string_value, "512");
    assert.ok(config.input.some((i) => i.name === "text_input" && i.optional === false));
  });

  test("generate: the output is the prompt and its continuation, or the continuation alone", async () => {
    const request = { text_input: PROMPT, max_tokens: 16, temperature: 0 };
    const full = await post("/v2/models/demo/generate", request);
    assert.equal(full.status, 200);
    const fullBody = await full.json();
    assert.equal(fullBody.model_name, "demo");
    assert.ok(fullBody.text_output.startsWith(PROMPT), fullBody.text_output);

    const only = await (await post("/v2/models/demo/generate", { ...request, exclude_input_in_output: true })).json();
    assert.ok(only.text_output.length > 0, "no text generated");
    assert.equal(PROMPT + only.text_output, fullBody.text_output);

    // The same greedy continuation as the OpenAI completions endpoint gives.
    const openai = await (await post("/v1/completions", { prompt: PROMPT, max_tokens: 16, temperature: 0 })).json();
    assert.equal(only.text_output, openai.choices[0].text);
  });

  test("generate_stream: the pieces add up to the plain greedy output", async () => {
    const request = { text_input: PROMPT, max_tokens: 24, temperature: 0 };
    const plain = await (await post("/v2/models/demo/generate", { ...request, exclude_input_in_output: true })).json();
    const response = await post("/v2/models/demo/generate_stream", request);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type"), /^text\/event-stream/);
    const events = parseSseStrict(await response.text()).map((d) => JSON.parse(d));
    assert.ok(events.length > 1, `${events.length} events: not streamed piece by piece`);
    for (const e of events) assert.equal(e.model_name, "demo");
    assert.equal(events.map((e) => e.text_output).join(""), plain.text_output);
  });

  test("generate: parameters may also come in a 'parameters' object", async () => {
    const flat = await (await post("/v2/models/demo/generate", {
      text_input: PROMPT, max_tokens: 8, temperature: 0.9, seed: 77 })).json();
    const nested = await (await post("/v2/models/demo/generate", {
      text_input: PROMPT, parameters: { max_tokens: 8, temperature: 0.9, seed: 77 } })).json();
    assert.equal(nested.text_output, flat.text_output);
  });

  test("errors: unknown model or version is a 404, bad input a 400, in KServe's error shape", async () => {
    for (const path of ["/v2/models/nope", "/v2/models/nope/ready", "/v2/models/demo/versions/2"]) {
      const response = await get(path);
      assert.equal(response.status, 404, path);
      assert.equal(typeof (await response.json()).error, "string", path);
    }
    const unknown = await post("/v2/models/nope/generate", { text_input: "x" });
    assert.equal(unknown.status, 404);
    assert.equal(typeof (await unknown.json()).error, "string");

    const missing = await post("/v2/models/demo/generate", { max_tokens: 4 });
    assert.equal(missing.status, 400);
    assert.match((await missing.json()).error, /text_input/);
    const wrongType = await post("/v2/models/demo/generate", { text_input: "x", max_tokens: "many" });
    assert.equal(wrongType.status, 400);
    assert.match((await wrongType.json()).error, /max_tokens/);
  });
});

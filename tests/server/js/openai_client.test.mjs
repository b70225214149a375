// The official `openai` npm client against `turbolm serve`: whatever it accepts and how it reads
// streams and errors is what real applications will see.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { skipReason } from "./dependencies.mjs";
import { startServer } from "./server_fixture.mjs";

const skip = skipReason();
const { default: OpenAI } = skip ? { default: null } : await import("openai");

const PROMPT = "In the beginning God created";
const CHAT = [{ role: "user", content: "Who made the heaven and the earth?" }];
const MAX_MODEL_LEN = 512;

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function assertUsageAddsUp(usage, label) {
  assert.ok(usage, `${label}: no usage`);
  assert.ok(usage.prompt_tokens > 0, `${label}: prompt_tokens ${usage.prompt_tokens}`);
  assert.ok(usage.completion_tokens > 0, `${label}: completion_tokens ${usage.completion_tokens}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, `${label}: total_tokens`);
}

// A finish for "length" means exactly max_tokens were produced; "stop" at most that many.
function assertFinish(choice, completionTokens, maxTokens) {
  assert.ok(["stop", "length"].includes(choice.finish_reason), `finish_reason ${choice.finish_reason}`);
  if (choice.finish_reason === "length") assert.equal(completionTokens, maxTokens);
  else assert.ok(completionTokens <= maxTokens);
}

// The error the client raised, checked to be its APIError with this status.
async function apiError(promise, status) {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error, `expected an HTTP ${status} error, the request succeeded`);
  assert.ok(error instanceof OpenAI.APIError, `expected OpenAI.APIError, got ${error && error.constructor.name}: ${error}`);
  assert.equal(error.status, status, `status of: ${error.message}`);
  assert.equal(typeof error.error?.message, "string", "the body is OpenAI's {error: {message}}");
  return error;
}

describe("openai client", { skip }, () => {
  let server, client;

  before(async () => {
    server = await startServer();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 60_000 });
  });
  after(async () => { await server?.stop(); });

  test("models.list names the served model", async () => {
    const models = [];
    for await (const m of client.models.list()) models.push(m);
    assert.equal(models.length, 1);
    assert.equal(models[0].id, "demo");
    assert.equal(models[0].object, "model");
    assert.equal(models[0].max_model_len, MAX_MODEL_LEN);
  });

  test("completions: the stream carries the same text and usage as the plain reply", async () => {
    const params = { model: "demo", prompt: PROMPT, max_tokens: 24, temperature: 0, seed: 11 };
    const plain = await client.completions.create(params);
    assert.equal(plain.object, "text_completion");
    assert.equal(plain.choices.length, 1);
    assert.ok(plain.choices[0].text.length > 0, "empty completion");
    assertUsageAddsUp(plain.usage, "completion");
    assertFinish(plain.choices[0], plain.usage.completion_tokens, 24);

    const chunks = await collect(await client.completions.create({
      ...params, stream: true, stream_options: { include_usage: true } }));
    const withChoices = chunks.filter((c) => c.choices.length > 0);
    const text = withChoices.map((c) => c.choices[0].text).join("");
    assert.equal(text, plain.choices[0].text);
    assert.equal(withChoices.at(-1).choices[0].finish_reason, plain.choices[0].finish_reason);
    // include_usage: one last chunk with no choices and the totals.
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, plain.usage);
    for (const c of chunks.slice(0, -1)) assert.ok(c.usage == null, "usage only in the last chunk");
  });

  test("chat: greedy streamed deltas equal the plain reply, usage included", async () => {
    const params = { model: "demo", messages: CHAT, max_tokens: 32, temperature: 0, seed: 5 };
    const plain = await client.chat.completions.create(params);
    assert.equal(plain.object, "chat.completion");
    const message = plain.choices[0].message;
    assert.equal(message.role, "assistant");
    assert.ok(message.content.length > 0, "empty answer");
    assertUsageAddsUp(plain.usage, "chat");
    assertFinish(plain.choices[0], plain.usage.completion_tokens, 32);

    const chunks = await collect(await client.chat.completions.create({
      ...params, stream: true, stream_options: { include_usage: true } }));
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    const deltas = chunks.filter((c) => c.choices.length > 0).map((c) => c.choices[0].delta.content ?? "");
    assert.ok(deltas.filter(Boolean).length > 1, "the answer came in one piece: not streamed token by token");
    assert.equal(deltas.join(""), message.content);
    assert.ok(chunks.every((c) => c.id === chunks[0].id), "one id for all chunks of a completion");
    assert.equal(chunks.at(-1).choices.length, 0);
    assert.deepEqual(chunks.at(-1).usage, plain.usage);
  });

  test("chat: the same seed gives the same sampled answer", async () => {
    const params = { model: "demo", messages: CHAT, max_tokens: 24, temperature: 1.0, top_p: 0.9, seed: 424242 };
    const a = await client.chat.completions.create(params);
    const b = await client.chat.completions.create(params);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  });

  test("chat: n=2 gives two choices whose token counts add up to the usage", async () => {
    const reply = await client.chat.completions.create({
      model: "demo", messages: CHAT, max_tokens: 16, temperature: 1.0, seed: 3, n: 2, logprobs: true });
    assert.deepEqual(reply.choices.map((c) => c.index), [0, 1]);
    let tokens = 0;
    for (const choice of reply.choices) {
      assert.ok(choice.message.content.length > 0, `choice ${choice.index} is empty`);
      const n = choice.logprobs.content.length;
      assertFinish(choice, n, 16);
      tokens += n;
    }
    assert.equal(reply.usage.completion_tokens, tokens);
  });

  test("completions: a stop string ends the text just before it", async () => {
    const params = { model: "demo", prompt: PROMPT, max_tokens: 40, temperature: 0 };
    const full = (await client.completions.create(params)).choices[0].text;
    assert.ok(full.length > 20, `too short to cut: ${JSON.stringify(full)}`);
    const stop = full.slice(Math.floor(full.length / 2)).match(/\S{2,}/)[0];
    const expected = full.slice(0, full.indexOf(stop));
    const cut = await client.completions.create({ ...params, stop: [stop, "never appears ~~"] });
    assert.equal(cut.choices[0].text, expected, `stop ${JSON.stringify(stop)}`);
    assert.equal(cut.choices[0].finish_reason, "stop");
  });

  test("chat: logprobs follow the greedy choice and spell the answer", async () => {
    const reply = await client.chat.completions.create({
      model: "demo", messages: CHAT, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3 });
    const choice = reply.choices[0];
    const content = choice.logprobs.content;
    assert.equal(content.length, reply.usage.completion_tokens);
    assert.equal(content.map((t) => t.token).join(""), choice.message.content);
    for (const t of content) {
      assert.ok(t.logprob <= 0 && Number.isFinite(t.logprob), `logprob ${t.logprob}`);
      assert.equal(t.top_logprobs.length, 3);
      const probs = t.top_logprobs.map((x) => x.logprob);
      assert.deepEqual(probs, [...probs].sort((a, b) => b - a), "top_logprobs in decreasing order");
      // Greedy decoding picks the most likely token.
      assert.equal(t.top_logprobs[0].token, t.token);
      assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-4);
    }
  });

  test("errors: out-of-range temperature is a 400", async () => {
    const e = await apiError(client.chat.completions.create({ model: "demo", messages: CHAT, temperature: 5 }), 400);
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.match(e.message, /temperature/);
  });

  test("errors: a prompt longer than the context is a 400", async () => {
    const prompt = "And God said, Let there be light: and there was light. ".repeat(100);
    await apiError(client.completions.create({ model: "demo", prompt, max_tokens: 4 }), 400);
    await apiError(client.chat.completions.create({ model: "demo", messages: [{ role: "user", content: prompt }] }), 400);
  });

  test("errors: an unknown model is a 404", async () => {
    const e = await apiError(client.chat.completions.create({ model: "no-such-model", messages: CHAT }), 404);
    assert.ok(e instanceof OpenAI.NotFoundError);
    await apiError(client.completions.create({ model: "no-such-model", prompt: PROMPT }), 404);
  });

  describe("with --api-key", () => {
    let keyed;
    before(async () => { keyed = await startServer({ args: ["--api-key", "sesame-123"] }); });
    after(async () => { await keyed?.stop(); });

    test("a wrong key is a 401, the right key works", async () => {
      const wrong = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: "wrong-key", maxRetries: 0 });
      const e = await apiError(wrong.chat.completions.create({ model: "demo", messages: CHAT, max_tokens: 4 }), 401);
      assert.ok(e instanceof OpenAI.AuthenticationError);
      await apiError(wrong.models.list(), 401);

      const right = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: "sesame-123", maxRetries: 0 });
      const reply = await right.chat.completions.create({ model: "demo", messages: CHAT, max_tokens: 4 });
      assert.ok(reply.choices[0].message.content.length > 0);
    });
  });
});

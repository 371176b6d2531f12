// Bad requests get the status and OpenAI's error object naming the field ({"error": {message, type, param, code}}):
// malformed JSON, unknown model, missing fields, wrong types, values out of range, prompts over the context length,
// an oversized body (refused without reading it); the API key; and none of them disturbs a stream in flight.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { FlyThinkerServer } from "../../src/serve/server.ts";
import { writePair } from "../train/fixtures.ts";

const KEY = "sk-test-key";
let root: string;
let server: FlyThinkerServer;
let client: OpenAI;
const auth = { authorization: `Bearer ${KEY}`, "content-type": "application/json" };

before(async () => {
  root = mkdtempSync(join(tmpdir(), "serve-errors-"));
  const { generator } = writePair(root);
  server = await FlyThinkerServer.start({ models: [{ name: "plain", dir: generator }], port: 0, apiKey: KEY, maxBodyBytes: 64 * 1024 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
});

after(async () => {
  await server?.shutdown(1000);
  rmSync(root, { recursive: true, force: true });
});

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function post(path: string, body: unknown, headers: Record<string, string> = auth): Promise<{ status: number; body: ErrorBody }> {
  const res = await fetch(`${server.url}${path}`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as ErrorBody };
}

function expectError(r: { status: number; body: ErrorBody }, status: number, param: string | null, code: string, message?: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(r.body.error.type, status === 401 ? "authentication_error" : status === 404 && param === null ? "not_found_error" : "invalid_request_error");
  assert.equal(r.body.error.param, param);
  assert.equal(r.body.error.code, code);
  if (message) assert.match(r.body.error.message, message);
}

const chat = (extra: Record<string, unknown>) => ({ model: "plain", messages: [{ role: "user", content: "the cat" }], max_tokens: 4, ...extra });

test("malformed JSON: 400, no param, code invalid_json", async () => {
  expectError(await post("/v1/chat/completions", "{ not json"), 400, null, "invalid_json", /not valid JSON/);
  expectError(await post("/v1/chat/completions", "[1, 2]"), 400, null, "invalid_json", /JSON object/);
});

test("unknown model: 404 naming model", async () => {
  expectError(await post("/v1/chat/completions", chat({ model: "nope" })), 404, "model", "model_not_found", /"nope".*plain/);
  expectError(await post("/v1/completions", { model: "nope", prompt: "x" }), 404, "model", "model_not_found");
});

test("missing fields: 400 naming each", async () => {
  expectError(await post("/v1/chat/completions", { messages: [{ role: "user", content: "x" }] }), 400, "model", "missing_required_parameter");
  expectError(await post("/v1/chat/completions", { model: "plain" }), 400, "messages", "missing_required_parameter");
  expectError(await post("/v1/completions", { model: "plain" }), 400, "prompt", "missing_required_parameter");
  expectError(await post("/v1/chat/completions", chat({ messages: [{ role: "user" }] })), 400, "messages[0].content", "missing_required_parameter");
});

test("wrong types: 400 naming the field and what was expected", async () => {
  expectError(await post("/v1/chat/completions", chat({ temperature: "hot" })), 400, "temperature", "invalid_type", /expected a number/);
  expectError(await post("/v1/chat/completions", chat({ messages: [{ role: "user", content: 5 }] })), 400, "messages[0].content", "invalid_type");
  expectError(await post("/v1/chat/completions", chat({ messages: "hi" })), 400, "messages", "invalid_type");
  expectError(await post("/v1/chat/completions", chat({ stream: "yes" })), 400, "stream", "invalid_type");
  expectError(await post("/v1/chat/completions", chat({ stop: ["a", 3] })), 400, "stop[1]", "invalid_type");
  expectError(await post("/v1/chat/completions", chat({ max_tokens: 2.5 })), 400, "max_tokens", "invalid_type", /integer/);
  expectError(await post("/v1/completions", { model: "plain", prompt: { text: "x" } }), 400, "prompt", "invalid_type");
  expectError(await post("/v1/chat/completions", chat({ flythinker: { history: "none" } })), 400, "flythinker.history", "invalid_type");
  expectError(await post("/v1/completions", { model: "plain", prompt: "x", flythinker: { history: ["a"] } }), 400, "flythinker", "invalid_value", /chat\/completions/);
  expectError(await post("/v1/chat/completions", chat({ flythinker: { user: "ann" } })), 400, "flythinker.user", "unknown_user", /no --data/);
});

test("values out of range: 400 naming the field and the range", async () => {
  expectError(await post("/v1/chat/completions", chat({ top_p: 1.5 })), 400, "top_p", "invalid_value", /> 0 and <= 1, got 1.5/);
  expectError(await post("/v1/chat/completions", chat({ temperature: 3 })), 400, "temperature", "invalid_value", /<= 2/);
  expectError(await post("/v1/chat/completions", chat({ max_tokens: 0 })), 400, "max_tokens", "invalid_value", />= 1/);
  expectError(await post("/v1/chat/completions", chat({ messages: [{ role: "robot", content: "x" }] })), 400, "messages[0].role", "invalid_value");
  expectError(await post("/v1/chat/completions", chat({ stop: [""] })), 400, "stop[0]", "invalid_value");
  expectError(await post("/v1/chat/completions", chat({ n: 2 })), 400, "n", "invalid_value");
  expectError(await post("/v1/chat/completions", chat({ stream_options: { include_usage: true } })), 400, "stream_options", "invalid_value", /stream is true/);
  expectError(await post("/v1/chat/completions", chat({ flythinker: { mode: "psychic" } })), 400, "flythinker.mode", "invalid_value");
  // The official client reads the same object.
  await assert.rejects(client.chat.completions.create({ model: "plain", messages: [{ role: "user", content: "x" }], top_p: 7 }), (e: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(e.status, 400);
    assert.equal(e.param, "top_p");
    assert.equal(e.type, "invalid_request_error");
    return true;
  });
});

test("prompts over the context length: 413 naming the prompt; a budget that does not fit: 400 naming max_tokens", async () => {
  const long = Array.from({ length: 3000 }, (_, i) => ["cat", "dog", "mat", "park"][i % 4]).join(" ");
  expectError(await post("/v1/completions", { model: "plain", prompt: long }), 413, "prompt", "context_length_exceeded", /context length/);
  expectError(await post("/v1/chat/completions", chat({ max_tokens: 2048 })), 400, "max_tokens", "context_length_exceeded", /at most \d+ more/);
});

test("an oversized body is refused from its Content-Length, before it is sent", async () => {
  const reply = await new Promise<string>((resolve, reject) => {
    const u = new URL(server.url);
    const sock = connect(Number(u.port), u.hostname, () => {
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${KEY}\r\ncontent-type: application/json\r\ncontent-length: ${50 << 20}\r\n\r\n`);
      sock.write("{".padEnd(1024, " "));
    });
    let text = "";
    sock.on("data", (d) => (text += d.toString()));
    sock.on("close", () => resolve(text));
    sock.on("error", reject);
  });
  // Only 1 KiB of the announced 50 MiB was sent: the answer came, and the connection closed, without the rest.
  assert.match(reply, /^HTTP\/1\.1 413/);
  const body = JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)) as ErrorBody;
  assert.equal(body.error.code, "request_too_large");
  // A body without a length (chunked) is cut off once it passes the limit.
  const big = "x".repeat(70 * 1024);
  const r = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST", headers: auth, duplex: "half",
    body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(big)); c.close(); } }),
  } as RequestInit);
  assert.equal(r.status, 413);
});

test("the API key: /health without it; every other route needs Authorization: Bearer", async () => {
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
  const none = await fetch(`${server.url}/v1/models`);
  expectError({ status: none.status, body: (await none.json()) as ErrorBody }, 401, null, "invalid_api_key", /required/);
  expectError(await post("/v1/chat/completions", chat({}), { authorization: "Bearer wrong" }), 401, null, "invalid_api_key", /not valid/);
  assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["plain"]);
});

test("unknown routes are 404 and wrong methods 405, in the same shape", async () => {
  const r = await fetch(`${server.url}/v1/nothing`, { headers: auth });
  expectError({ status: r.status, body: (await r.json()) as ErrorBody }, 404, null, "not_found");
  const m = await fetch(`${server.url}/v1/chat/completions`, { headers: auth });
  assert.equal(m.status, 405);
});

test("bad requests while a stream runs leave it as it would be alone", async () => {
  const params = { model: "plain", messages: [{ role: "user" as const, content: "the dog ran" }], max_tokens: 24, seed: 8, temperature: 1 };
  const ref = (await client.chat.completions.create(params)).choices[0]!.message.content!;
  const stream = (async () => {
    let text = "";
    for await (const c of await client.chat.completions.create({ ...params, stream: true })) text += c.choices[0]?.delta.content ?? "";
    return text;
  })();
  const bad = await Promise.all([
    post("/v1/chat/completions", "{"),
    post("/v1/chat/completions", chat({ top_p: -1 })),
    post("/v1/chat/completions", chat({ model: "nope" })),
    post("/v1/completions", { model: "plain", prompt: "x".repeat(70 * 1024) }),
  ]);
  assert.deepEqual(bad.map((b) => b.status), [400, 400, 404, 413]);
  assert.equal(await stream, ref);
});

test("CORS: with --cors the origin is allowed and preflight answered; without it, no CORS header", async () => {
  assert.equal((await fetch(`${server.url}/health`)).headers.get("access-control-allow-origin"), null);
  const { generator } = writePair(join(root, "cors"));
  const open = await FlyThinkerServer.start({ models: [{ name: "plain", dir: generator }], port: 0, cors: "https://app.example" });
  try {
    const pre = await fetch(`${open.url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /authorization/);
    const models = await fetch(`${open.url}/v1/models`, { headers: { origin: "https://app.example" } });
    assert.equal(models.headers.get("access-control-allow-origin"), "https://app.example");
    // A second server on the same port is refused by name.
    const port = new URL(open.url).port;
    const { generator: again } = writePair(join(root, "again"));
    await assert.rejects(FlyThinkerServer.start({ models: [{ name: "plain", dir: again }], port: Number(port) }), new RegExp(`cannot listen on 127.0.0.1:${port} \\(--host, --port\\)`));
  } finally {
    await open.shutdown(1000);
  }
});

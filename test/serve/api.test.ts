// The OpenAI-compatible API against a tiny served trio (plain, SFT, FlyThinker), through the official `openai` client:
// chat and completions, streamed or not, give the text of `flythinker generate` with the same seed and prompt; usage
// counts; stop strings; the `user` field builds the prompt `generate --data` builds; 8 concurrent streams equal the
// same requests one by one; a disconnect frees the row; a full queue answers 429; shutdown drains.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { FlyThinkerServer } from "../../src/serve/server.ts";
import { FlyThinker } from "../../src/flythinker/model.ts";
import { recordPrompt } from "../../src/data/prompt-ids.ts";
import { messagePromptIds } from "../../src/flythinker/model-generation.ts";
import { cli, makeServedFixture, type ServedFixture } from "./fixtures.ts";

let fx: ServedFixture;
let server: FlyThinkerServer;
let client: OpenAI;
const message = "the cat sat on the mat and the dog ran home";

before(async () => {
  fx = await makeServedFixture();
  server = await FlyThinkerServer.start({
    models: [{ name: "fly", dir: fx.fly }, { name: "sft", dir: fx.sft }, { name: "plain", dir: fx.plain }],
    data: fx.data,
    port: 0,
  });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  await server?.shutdown(1000);
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

/** `flythinker generate` with these flags: the text it printed and the count of generated tokens (--stats). */
async function generated(model: string, prompt: string, flags: string[]): Promise<{ text: string; tokens: number; promptTokens: number }> {
  const r = await cli("generate", "--model", model, "--prompt", prompt, ...flags, "--stats");
  const m = /^\[(\d+) prompt tokens, (\d+) generated/.exec(r.err);
  assert.ok(m, r.err);
  assert.ok(r.out.endsWith("\n"));
  return { text: r.out.slice(0, -1), tokens: Number(m[2]), promptTokens: Number(m[1]) };
}

async function metric(name: string): Promise<string[]> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith(name));
}

test("GET /v1/models lists the served models with their kind", async () => {
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  assert.deepEqual(models.map((m) => m.id), ["fly", "sft", "plain"]);
  const kinds = models.map((m) => (m as unknown as { flythinker: { kind: string; reasoner: boolean } }).flythinker);
  assert.deepEqual(kinds.map((k) => [k.kind, k.reasoner]), [["flythinker", true], ["sft", false], ["model", false]]);
  const health = await fetch(`${server.url}/health`);
  assert.deepEqual(await health.json(), { status: "ok" });
});

test("chat completions, plain and streamed, equal `flythinker generate` with the same seed; usage counts", async () => {
  for (const [name, dir] of [["fly", fx.fly], ["sft", fx.sft], ["plain", fx.plain]] as const) {
    const ref = await generated(dir, message, ["--max-new-tokens", "12", "--seed", "5", "--temperature", "0.9", "--top-p", "0.95"]);
    assert.ok(ref.tokens > 0);
    const params = { model: name, messages: [{ role: "user" as const, content: message }], max_tokens: 12, seed: 5, temperature: 0.9, top_p: 0.95 };
    const r = await client.chat.completions.create(params);
    assert.equal(r.choices[0]!.message.content, ref.text, name);
    assert.equal(r.object, "chat.completion");
    assert.deepEqual(r.usage, { prompt_tokens: ref.promptTokens, completion_tokens: ref.tokens, total_tokens: ref.promptTokens + ref.tokens });
    assert.equal(r.choices[0]!.finish_reason, ref.tokens === 12 ? "length" : "stop");

    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let role = "";
    const finishes: (string | null)[] = [];
    let usage: unknown = undefined;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "chat.completion.chunk");
      if (chunk.choices.length === 0) {
        usage = chunk.usage;
        continue;
      }
      assert.equal(chunk.usage, null, "usage is null on the chunks before the last");
      role ||= chunk.choices[0]!.delta.role ?? "";
      text += chunk.choices[0]!.delta.content ?? "";
      finishes.push(chunk.choices[0]!.finish_reason);
    }
    assert.equal(role, "assistant");
    assert.equal(text, ref.text, `${name} streamed`);
    assert.deepEqual(finishes.filter((f) => f !== null), [r.choices[0]!.finish_reason], "one finish reason, on the last choice chunk");
    assert.deepEqual(usage, r.usage);
  }
  // The prompt of a trained model is its training's format for the message (the tokens of messagePromptIds).
  const tok = FlyThinker.load(fx.fly).tokenizer;
  const ids = messagePromptIds(tok, message, fx.trainedPrompt);
  const t = await (await fetch(`${server.url}/tokenize`, { method: "POST", body: JSON.stringify({ model: "fly", messages: [{ role: "user", content: message }] }) })).json() as { tokens: number[] };
  assert.deepEqual(t.tokens, ids);
});

test("completions, plain and streamed, equal `generate --raw` (the prompt text as it is)", async () => {
  const ref = await generated(fx.fly, "the dog sat", ["--raw", "--max-new-tokens", "10", "--seed", "2", "--temperature", "1.1"]);
  const params = { model: "fly", prompt: "the dog sat", max_tokens: 10, seed: 2, temperature: 1.1 };
  const r = await client.completions.create(params);
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices[0]!.text, ref.text);
  assert.equal(r.usage!.prompt_tokens, ref.promptTokens);
  assert.equal(r.usage!.completion_tokens, ref.tokens);
  let text = "";
  for await (const chunk of await client.completions.create({ ...params, stream: true })) text += chunk.choices[0]?.text ?? "";
  assert.equal(text, ref.text);
});

test("stop strings cut the text before them and finish with reason stop, as `generate --stop`", async () => {
  const flags = ["--max-new-tokens", "30", "--seed", "9", "--temperature", "1"];
  const full = await generated(fx.fly, message, flags);
  // A stop string from the middle of the text (two printable ASCII characters): the text ends before its first
  // occurrence.
  const at = full.text.slice(4).search(/[!-~]{2}/);
  assert.ok(at >= 0, `need printable text, got ${JSON.stringify(full.text)}`);
  const stop = full.text.slice(4 + at, 6 + at);
  const cut = await generated(fx.fly, message, [...flags, "--stop", stop]);
  assert.equal(cut.text, full.text.slice(0, full.text.indexOf(stop)));
  const params = { model: "fly", messages: [{ role: "user" as const, content: message }], max_tokens: 30, seed: 9, temperature: 1, stop: [stop] };
  const r = await client.chat.completions.create(params);
  assert.equal(r.choices[0]!.message.content, cut.text);
  assert.equal(r.choices[0]!.finish_reason, "stop");
  let text = "";
  for await (const chunk of await client.chat.completions.create({ ...params, stream: true })) text += chunk.choices[0]?.delta.content ?? "";
  assert.equal(text, cut.text);
});

test("the user field builds the prompt `generate --data` builds for that user's record, and the same text", async () => {
  const record = fx.records[0]!;
  const tok = FlyThinker.load(fx.fly).tokenizer;
  const expected = recordPrompt(record, tok, fx.trainedPrompt).promptIds;
  const body = { model: "fly", messages: [{ role: "user", content: record.input }], user: record.user };
  const t = await (await fetch(`${server.url}/tokenize`, { method: "POST", body: JSON.stringify(body) })).json() as { tokens: number[]; history: { output: string }[] };
  assert.deepEqual(t.tokens, expected);
  const used = recordPrompt(record, tok, fx.trainedPrompt).usedHistory.map((i) => record.profile[i]!.output);
  assert.ok(used.length > 0);
  assert.deepEqual(t.history.map((h) => h.output), used);
  const plain = await (await fetch(`${server.url}/tokenize`, { method: "POST", body: JSON.stringify({ ...body, user: undefined }) })).json() as { tokens: number[] };
  assert.notDeepEqual(plain.tokens, expected, "without the user, no history in the prompt");
  // History given in the request instead of --data's: the same prompt.
  const given = { ...body, user: undefined, flythinker: { user: record.user, history: record.profile } };
  const g = await (await fetch(`${server.url}/tokenize`, { method: "POST", body: JSON.stringify(given) })).json() as { tokens: number[] };
  assert.deepEqual(g.tokens, expected);

  const file = join(fx.root, "one.jsonl");
  writeFileSync(file, JSON.stringify(record) + "\n");
  const out = join(fx.root, "one-preds.jsonl");
  const flags = ["--max-new-tokens", "12", "--seed", "4", "--temperature", "0.8", "--top-p", "0.95"];
  const res = await cli("generate", "--model", fx.fly, "--data", file, "--out", out, ...flags);
  assert.match(res.out, /wrote 1 predictions/);
  const prediction = (JSON.parse(readFileSync(out, "utf8").trim()) as { prediction: string }).prediction;
  const r = await client.chat.completions.create({ model: "fly", messages: [{ role: "user", content: record.input }], user: record.user, max_tokens: 12, seed: 4, temperature: 0.8, top_p: 0.95 });
  assert.equal(r.choices[0]!.message.content!.trim(), prediction);
  assert.equal(r.usage!.prompt_tokens, expected.length);
});

test("flythinker.mode non-pers and rag build the baselines' prompts and give `generate --baseline`'s text", async () => {
  const record = fx.records[0]!;
  const file = join(fx.root, "one-baseline.jsonl");
  writeFileSync(file, JSON.stringify(record) + "\n");
  const flags = ["--max-new-tokens", "10", "--seed", "3", "--temperature", "0.9"];
  const texts: Record<string, string> = {};
  for (const mode of ["non-pers", "rag"] as const) {
    const out = join(fx.root, `one-${mode}.jsonl`);
    const res = await cli("generate", "--model", fx.plain, "--baseline", mode, "--data", file, "--out", out, ...flags);
    assert.match(res.out, /wrote 1 predictions/, res.err);
    const prediction = (JSON.parse(readFileSync(out, "utf8").trim()) as { prediction: string }).prediction;
    const body = { model: "plain", messages: [{ role: "user" as const, content: record.input }], user: record.user, max_tokens: 10, seed: 3, temperature: 0.9 };
    const t = await (await fetch(`${server.url}/tokenize`, { method: "POST", body: JSON.stringify({ ...body, flythinker: { mode } }) })).json() as { tokens: number[]; history: unknown[] };
    assert.equal(t.history.length, mode === "rag" ? record.profile.length : 0, `${mode}: history items in the prompt`);
    const r = await client.chat.completions.create({ ...body, flythinker: { mode } } as unknown as Parameters<typeof client.chat.completions.create>[0] & { stream?: false });
    texts[mode] = r.choices[0]!.message.content!;
    assert.equal(texts[mode]!.trim(), prediction, mode);
    assert.equal(r.usage!.prompt_tokens, t.tokens.length);
  }
});

test("8 concurrent streams all complete with the texts of the same requests one by one; they share steps", async () => {
  const params = (i: number) => ({ model: "fly", messages: [{ role: "user" as const, content: `${message} ${i}` }], max_tokens: 16, seed: 100 + i, temperature: 1.0 });
  const alone: string[] = [];
  for (let i = 0; i < 8; i++) alone.push((await client.chat.completions.create(params(i))).choices[0]!.message.content!);
  const before = await metric("flythinker_batch_size_count");
  const texts = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
    let text = "";
    for await (const chunk of await client.chat.completions.create({ ...params(i), stream: true })) text += chunk.choices[0]?.delta.content ?? "";
    return text;
  }));
  assert.deepEqual(texts, alone);
  // Steps of more than one row happened: the bucket le="1" grew less than the count.
  const bucket1 = (await metric('flythinker_batch_size_bucket{model="fly",le="1"}'))[0]!;
  const count = (await metric('flythinker_batch_size_count{model="fly"}'))[0]!;
  const value = (l: string) => Number(l.split(" ").pop());
  assert.ok(value(count) - value(bucket1) > 0, `batched steps: ${bucket1} / ${count} (before: ${before.join(";")})`);
});

test("a client that disconnects mid-stream frees its row (metrics count it); other streams are unaffected", async () => {
  const cancelledBefore = Number((await metric('flythinker_cancelled_total{model="fly"}'))[0]?.split(" ").pop() ?? 0);
  const params = { model: "fly", messages: [{ role: "user" as const, content: message }], max_tokens: 40, seed: 1, temperature: 1.0 };
  const ref = (await client.chat.completions.create(params)).choices[0]!.message.content!;
  const other = (async () => {
    let text = "";
    for await (const chunk of await client.chat.completions.create({ ...params, stream: true })) text += chunk.choices[0]?.delta.content ?? "";
    return text;
  })();
  await new Promise<void>((resolve, reject) => {
    const body = JSON.stringify({ ...params, max_tokens: 1000, stream: true });
    const req = request(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let chunks = 0;
      res.on("data", () => {
        if (++chunks === 3) {
          req.destroy();
          resolve();
        }
      });
      res.on("error", () => undefined);
    });
    req.on("error", (e) => (req.destroyed ? undefined : reject(e)));
    req.end(body);
  });
  assert.equal(await other, ref);
  for (let i = 0; i < 200; i++) {
    const active = Number((await metric('flythinker_active_rows{model="fly"}'))[0]!.split(" ").pop());
    const cancelled = Number((await metric('flythinker_cancelled_total{model="fly"}'))[0]?.split(" ").pop() ?? 0);
    if (active === 0 && cancelled === cancelledBefore + 1) {
      const closed = await metric('flythinker_requests_total{route="/v1/chat/completions",status="499"}');
      assert.equal(closed[0]?.split(" ").pop(), "1", "the request counts as closed by the client (499)");
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("the disconnected row did not leave the batch");
});

test("a full queue answers 429 in OpenAI's error shape; shutdown lets the streams in flight finish", async () => {
  const small = await FlyThinkerServer.start({ models: [{ name: "fly", dir: fx.fly }], port: 0, maxBatch: 1, maxQueue: 1 });
  const c = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const params = { model: "fly", messages: [{ role: "user" as const, content: message }], max_tokens: 80, seed: 3, temperature: 1.0 };
  const ref = (await c.chat.completions.create(params)).choices[0]!.message.content!;
  const collect = async (stream: AsyncIterable<OpenAI.ChatCompletionChunk>) => {
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    return text;
  };
  // The first stream takes the only row; the second waits in the queue; the third finds the queue full.
  const first = await c.chat.completions.create({ ...params, stream: true });
  const firstText = collect(first);
  const second = await c.chat.completions.create({ ...params, stream: true });
  const secondText = collect(second);
  await assert.rejects(c.chat.completions.create(params), (e: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(e.status, 429);
    assert.equal(e.type, "rate_limit_error");
    assert.equal(e.code, "queue_full");
    return true;
  });
  // Draining: health says so, new requests get 503, the two accepted streams finish whole.
  const url = small.url;
  const down = small.shutdown(20_000);
  const health = await fetch(`${url}/health`).catch(() => null);
  if (health) assert.equal(health.status, 503);
  assert.equal(await firstText, ref);
  assert.equal(await secondText, ref);
  await down;
});

test("metrics: requests by route and status, tokens in and out, time to first token, inter-token latency, step times", async () => {
  const value = async (series: string) => Number((await metric(series))[0]?.split(" ").pop() ?? 0);
  const names = {
    ok: 'flythinker_requests_total{route="/v1/chat/completions",status="200"}',
    bad: 'flythinker_requests_total{route="/v1/chat/completions",status="400"}',
    prompt: 'flythinker_prompt_tokens_total{model="sft"}',
    completion: 'flythinker_completion_tokens_total{model="sft"}',
    ttft: 'flythinker_time_to_first_token_seconds_count{model="sft"}',
    itl: 'flythinker_inter_token_latency_seconds_count{model="sft"}',
    prefill: 'flythinker_step_seconds_count{model="sft",kind="prefill"}',
  };
  const before = Object.fromEntries(await Promise.all(Object.entries(names).map(async ([k, n]) => [k, await value(n)] as const)));
  const r = await client.chat.completions.create({ model: "sft", messages: [{ role: "user", content: message }], max_tokens: 9, seed: 2, temperature: 1, stop: ["never-seen"] });
  await fetch(`${server.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "sft", messages: [] }) });
  const after = Object.fromEntries(await Promise.all(Object.entries(names).map(async ([k, n]) => [k, await value(n)] as const)));
  const n = r.usage!.completion_tokens;
  assert.equal(after.ok! - before.ok!, 1);
  assert.equal(after.bad! - before.bad!, 1);
  assert.equal(after.prompt! - before.prompt!, r.usage!.prompt_tokens);
  assert.equal(after.completion! - before.completion!, n);
  assert.equal(after.ttft! - before.ttft!, 1);
  assert.equal(after.itl! - before.itl!, n - 1);
  assert.equal(after.prefill! - before.prefill!, 1);
  const text = await (await fetch(`${server.url}/metrics`)).text();
  for (const family of ["flythinker_queue_depth", "flythinker_active_rows", "flythinker_batch_size", "flythinker_generator_step_seconds_sum", "flythinker_reasoner_step_seconds_sum"]) {
    assert.match(text, new RegExp(`^# TYPE ${family} (gauge|histogram)$`, "m"), family);
  }
  // The FlyThinker model's Reasoner has worked (parallel mode: its share is the wait for the worker).
  assert.ok((await value('flythinker_decode_steps{model="fly"}')) > 0);
});

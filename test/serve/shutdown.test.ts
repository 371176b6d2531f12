// Shutdown in process: a request whose headers arrive while the server drains gets 503 (and /health "draining"); a
// stream still running when the grace period runs out ends at its next step with finish reason "length", well
// before its max_tokens, and shutdown resolves.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { rmSync } from "node:fs";
import OpenAI from "openai";
import { FlyThinkerServer } from "../../src/serve/server.ts";
import { makeServedFixture, type ServedFixture } from "./fixtures.ts";

let fx: ServedFixture;

before(async () => {
  fx = await makeServedFixture();
});

after(() => {
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

/** Opens a connection and sends all of a GET request but the blank line that ends its headers. */
async function halfSentGet(url: string, path: string): Promise<{ finish: () => Promise<string> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n`);
  let reply = "";
  socket.on("data", (c: Buffer) => (reply += c.toString("utf8")));
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return {
    finish: async () => {
      socket.write("\r\n");
      await ended;
      return reply;
    },
  };
}

test("shutdown: requests arriving while draining get 503; a stream past the grace period ends early with reason length", async () => {
  const server = await FlyThinkerServer.start({ models: [{ name: "fly", dir: fx.fly }], port: 0 });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const health = await halfSentGet(server.url, "/health");
  const completion = await halfSentGet(server.url, "/v1/models");
  const maxTokens = 400;
  const stream = await client.chat.completions.create({
    model: "fly", messages: [{ role: "user", content: "the cat sat" }], max_tokens: maxTokens, seed: 1, temperature: 1,
    stream: true, stream_options: { include_usage: true },
  });
  let chunks = 0;
  let finish: string | null = null;
  let completionTokens = -1;
  let shutdown: Promise<void> | undefined;
  for await (const chunk of stream) {
    if (chunk.choices.length === 0) {
      completionTokens = chunk.usage!.completion_tokens;
      continue;
    }
    chunks++;
    finish = chunk.choices[0]!.finish_reason ?? finish;
    if (chunks === 2) {
      // Grace 0: the stream in flight is ended at its next step.
      shutdown = server.shutdown(0);
      const h = await health.finish();
      assert.match(h, /^HTTP\/1\.1 503 /);
      assert.match(h, /"status":"draining"/);
      const m = await completion.finish();
      assert.match(m, /^HTTP\/1\.1 503 /);
      assert.match(m, /"code":"shutting_down"/);
    }
  }
  assert.ok(shutdown, "the stream produced at least two chunks");
  await shutdown;
  assert.equal(finish, "length");
  assert.ok(completionTokens >= 1 && completionTokens < maxTokens / 2, `ended early: ${completionTokens} of ${maxTokens} tokens`);
});

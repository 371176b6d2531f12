// `flythinker serve` as a process: it prints where it listens, serves the OpenAI client, and on SIGTERM stops taking
// requests, lets the stream in flight finish whole, then exits with status 0. Bad flags are refused by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import OpenAI from "openai";
import { cli, makeServedFixture } from "./fixtures.ts";

const BIN = new URL("../../bin/flythinker.js", import.meta.url).pathname;

test("serve: SIGTERM drains the stream in flight, refuses new requests, then exits 0", async () => {
  const fx = await makeServedFixture();
  const child = spawn(process.execPath, [BIN, "serve", "--model", `fly=${fx.fly}`, "--port", "0", "--data", fx.data, "--grace", "20"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = /serving fly \(flythinker\) at (http:\/\/[^\s]+) /.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on("exit", () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    const params = { model: "fly", messages: [{ role: "user" as const, content: "the dog ran home" }], max_tokens: 60, seed: 6, temperature: 1 };
    const ref = (await client.chat.completions.create(params)).choices[0]!.message.content!;
    const stream = await client.chat.completions.create({ ...params, stream: true });
    let text = "";
    let signalled = false;
    let after = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (signalled) after++;
      if (!signalled) {
        signalled = true;
        child.kill("SIGTERM");
        // Once draining, nothing new is taken: 503 (or the listener is already closed).
        await new Promise((r) => setTimeout(r, 100));
        const health = await fetch(`${url}/health`).catch(() => null);
        if (health) assert.equal(health.status, 503);
      }
    }
    assert.equal(text, ref, "the stream in flight finished whole");
    assert.ok(after > 5, `the stream went on after SIGTERM (${after} chunks)`);
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /SIGTERM: finishing the requests in flight/);
  } finally {
    child.kill("SIGKILL");
    rmSync(fx.root, { recursive: true, force: true });
  }
});

test("serve: flags are checked by name", async () => {
  assert.match((await cli("serve")).err, /serve needs at least one --model/);
  assert.match((await cli("serve", "--model", "x", "--port", "99999")).err, /--port must be an integer in \[0, 65535\], got "99999"/);
  assert.match((await cli("serve", "--model", "bad name=/tmp", "--port", "0")).err, /the name "bad name" must be/);
  assert.match((await cli("serve", "--model", "x", "--max-batch", "0")).err, /--max-batch must be an integer >= 1/);
  assert.match((await cli("serve", "--model", "/nowhere/model", "--port", "0")).err, /\/nowhere\/model/);
});

// `flythinker import pytorch` / `export pytorch` through the command line, on a checkpoint torch.save wrote.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.ts";
import { readManifest } from "../../src/flythinker/manifest.ts";

const dir = mkdtempSync(join(tmpdir(), "cli-interop-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await main(["node", "flythinker", ...args]);
  } finally {
    console.log = log;
    console.error = error;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { out: out.join("\n"), err: err.join("\n"), code };
}

const PAIR = "test/fixtures/torch/pair-bf16-tied-narrow";

test("cli: import pytorch writes a trained folder with the lambda given; export pytorch writes their layout", async () => {
  const run1 = join(dir, "run");
  const r = await run("import", "pytorch", join(PAIR, "checkpoint"), "--out", run1, "--lambda", "0.25",
    "--generator-config", join(PAIR, "generator"), "--reasoner-config", join(PAIR, "reasoner"));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^read .*pytorch_model\.bin \(pytorch_model\.bin\): 54 BF16 tensors$/m);
  assert.match(r.out, /padded with zero rows/);
  const m = readManifest(run1);
  assert.equal(m.lambda, 0.25);
  assert.equal(m.training.reasoner_vocab_size, 96);
  const again = await run("import", "pytorch", join(PAIR, "checkpoint"), "--out", run1, "--generator-config", join(PAIR, "generator"), "--reasoner-config", join(PAIR, "reasoner"));
  assert.equal(again.code, 2);
  assert.match(again.err, /already exists \(choose another folder, or pass --force\)/);
  const exp = join(dir, "export");
  const e = await run("export", "pytorch", run1, "--out", exp, "--format", "bin");
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /--lambda_diff 0\.25/);
  assert.ok(existsSync(join(exp, "pytorch_model.bin")) && existsSync(join(exp, "reasoner_config.json")));
  const bad = await run("export", "pytorch", run1, "--out", join(dir, "x"), "--dtype", "f16");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--dtype must be bf16 or f32, got "f16"/);
  const src = await run("import", "jax", join(PAIR, "checkpoint"), "--out", join(dir, "y"));
  assert.equal(src.code, 2);
  assert.match(src.err, /unknown checkpoint source "jax"; expected pytorch/);
});

// `flythinker quantize` and `generate --quantize`: a folder quantized once decodes exactly as quantizing at load time
// does; bad flags and mismatched widths are refused with what was found.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../src/cli/main.ts";
import { output } from "../../src/cli/commands/model.ts";
import { UserError } from "../../src/util/errors.ts";
import { LoadedModel } from "../../src/model/loaded-model.ts";
import { saveCheckpoint } from "../../src/model/checkpoint.ts";
import { CHATML_TEMPLATE, trainBpe, writeTokenizerFiles } from "../../src/tokenizer/bpe.ts";
import { writeTrainedModel } from "../../src/flythinker/trained-folder.ts";
import { flattenPair, pairFromNamed } from "../../src/flythinker/pair-params.ts";
import { makePair } from "../flythinker/helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "cli-quantize-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = "";
  let err = "";
  const saved = { ...output };
  output.out = (t) => void (out += t);
  output.err = (t) => void (err += t);
  let code = 0;
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    err += e.message;
    code = 2;
  } finally {
    Object.assign(output, saved);
  }
  return { out, err, code };
}

const tokDir = join(tmp, "tok");
writeTokenizerFiles(tokDir, trainBpe("Hello world. The cat sat on the mat. Hello again! ".repeat(8), { vocabSize: 300 }), { chatTemplate: CHATML_TEMPLATE });
const f32 = join(tmp, "f32");

test("quantize writes a folder that generates what --quantize generates; it says what it holds", async () => {
  assert.equal((await cli("init-model", "--preset", "tiny", "--out", f32, "--tokenizer", tokDir, "--seed", "4")).code, 0);
  const m = LoadedModel.fromDir(f32);
  for (const [name, w] of m.weights) if (!name.includes("norm")) for (let i = 0; i < w.length; i++) w[i]! *= 25;
  saveCheckpoint(f32, m.config, m.weights as ReadonlyMap<string, Float32Array>, { overwrite: true, tokenizerFrom: tokDir });

  const q8 = join(tmp, "q8");
  const r = await cli("quantize", "--model", f32, "--out", q8, "--bits", "8");
  assert.equal(r.code, 0, r.err);
  const sizes = /wrote .*q8: int8, blocks of 32, symmetric, weights ([\d.]+) MB -> ([\d.]+) MB/.exec(r.out);
  assert.ok(sizes, r.out);
  // A byte per weight plus a float32 scale per 32: 1.125 / 4 of float32 (norms and biases stay float32).
  const ratio = Number(sizes[2]) / Number(sizes[1]);
  assert.ok(ratio > 0.2 && ratio < 0.36, r.out);
  const config = JSON.parse(readFileSync(join(q8, "config.json"), "utf8"));
  assert.deepEqual(
    { ...config.quantization_config, layout: undefined },
    { quant_method: "flythinker-blockwise", bits: 8, block_size: 32, symmetric: true, layout: undefined },
  );
  assert.ok(existsSync(join(q8, "tokenizer.json")));

  const gen = (model: string, ...extra: string[]) => cli("generate", "--model", model, "--prompt", "Hello", "--greedy", "--max-new-tokens", "12", ...extra);
  const fromFolder = await gen(q8);
  const atLoad = await gen(f32, "--quantize", "int8");
  assert.equal(fromFolder.code, 0, fromFolder.err);
  assert.ok(fromFolder.out.trim().length > 0);
  assert.equal(fromFolder.out, atLoad.out);
  assert.equal((await gen(q8, "--quantize", "int8")).out, fromFolder.out, "the same width again is accepted");

  // Zero points and another block size round-trip through the folder too.
  const q4 = join(tmp, "q4");
  assert.equal((await cli("quantize", "--model", f32, "--out", q4, "--bits", "4", "--block", "16", "--zero-points")).code, 0);
  assert.deepEqual(LoadedModel.fromDir(q4).quantization, { bits: 4, blockSize: 16, symmetric: false });
});

test("bad quantization flags and mismatched widths are refused with what was found", async () => {
  const bad = async (args: string[], pattern: RegExp) => {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, pattern);
  };
  await bad(["quantize", "--model", f32, "--out", join(tmp, "x"), "--bits", "3"], /--bits must be 4 or 8, got "3"/);
  await bad(["quantize", "--model", f32, "--out", join(tmp, "x"), "--bits", "4", "--block", "24"], /--block: the block size must be a power of two >= 16/);
  await bad(["quantize", "--model", f32, "--out", join(tmp, "q8"), "--bits", "4"], /--out .*q8 already exists \(use --force/);
  await bad(["quantize", "--model", join(tmp, "q8"), "--out", join(tmp, "y"), "--bits", "4"], /already quantized \(int8, blocks of 32, symmetric\); asked for int4/);
  await bad(["generate", "--model", join(tmp, "q8"), "--prompt", "Hi", "--quantize", "int4"], /already quantized \(int8, blocks of 32, symmetric\); --quantize asked for int4/);
  await bad(["generate", "--model", f32, "--prompt", "Hi", "--quantize", "int2"], /--quantize must be int8 or int4, got "int2"/);
  await bad(["generate", "--model", f32, "--prompt", "Hi", "--quantize", "int4", "--quantize-block", "20"], /--quantize-block: the block size must be a power of two >= 16 .*got 20/);
  await bad(["generate", "--model", f32, "--prompt", "Hi", "--quantize-block", "32"], /--quantize-block needs --quantize/);
});

test("verify --quantize: the quantized pair's two paths agree; its logit and NLL distance to float32 are reported", async () => {
  const ids = { bosTokenId: 94, eosTokenId: 95 };
  const float = makePair({ lambda: 0.5, fuse: "prefix", enhance: "global" }, { gen: ids, rsn: ids });
  const dir = join(tmp, "fly");
  writeTrainedModel(dir, {
    pair: float.pair, method: "flythinker", weights: flattenPair(pairFromNamed(float.pair, float as never)),
    tokenizerFrom: {}, tokenizerFingerprint: null, training: {}, metrics: "", svg: "",
  });
  let out = "";
  const { log } = console;
  console.log = (...xs: unknown[]) => void (out += xs.join(" ") + "\n");
  try {
    await buildProgram().parseAsync(["node", "flythinker", "verify", "--model", dir, "--n", "2", "--max-target", "5", "--quantize", "int8", "--json"]);
  } finally {
    console.log = log;
  }
  const r = JSON.parse(out);
  assert.equal(r.ok, true);
  assert.deepEqual(r.quantize, { bits: 8, blockSize: 32, symmetric: true });
  assert.equal(r.records.length, 2);
  // Random width-32 weights quantize worst: measured 4-11% of the largest logit at 8 bits, NLL within 1%.
  for (const rec of r.records) {
    assert.ok(rec.quantized_sequential_vs_parallel <= 1e-4, JSON.stringify(rec));
    assert.ok(rec.quantized_vs_float > 0 && rec.quantized_vs_float_relative < 0.2, JSON.stringify(rec));
    assert.ok(rec.nll_float > 0 && Math.abs(rec.nll_quantized / rec.nll_float - 1) < 0.05, JSON.stringify(rec));
  }
  assert.equal(r.max_logit_diff_to_float, Math.max(...r.records.map((x: { quantized_vs_float: number }) => x.quantized_vs_float)));
});

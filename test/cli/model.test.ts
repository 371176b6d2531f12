// The model commands (init-model, forward, generate), run in-process on folders the tests create, plus one run
// through the real `flythinker` executable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildProgram } from "../../src/cli/main.ts";
import { output } from "../../src/cli/commands/model.ts";
import { UserError } from "../../src/util/errors.ts";
import { loadCheckpoint } from "../../src/model/checkpoint.ts";
import { presetConfig } from "../../src/model/config.ts";
import { initWeights } from "../../src/model/init.ts";
import { LoadedModel } from "../../src/model/loaded-model.ts";
import { generateBatch } from "../../src/model/generate.ts";
import { CHATML_TEMPLATE, trainBpe, writeTokenizerFiles } from "../../src/tokenizer/bpe.ts";
import { loadParityFixture, parityFixtureDir } from "../model/fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "cli-model-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI in this process; returns what the commands printed and the message of a user error (code 2). */
async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = "";
  let err = "";
  const saved = { ...output };
  const { log, error } = console;
  output.out = (t) => void (out += t);
  output.err = (t) => void (err += t);
  // The bench group prints with console.log / console.error.
  console.log = (...xs: unknown[]) => void (out += xs.join(" ") + "\n");
  console.error = (...xs: unknown[]) => void (err += xs.join(" ") + "\n");
  let code = 0;
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    err += e.message;
    code = 2;
  } finally {
    Object.assign(output, saved);
    Object.assign(console, { log, error });
  }
  return { out, err, code };
}

const tokDir = join(tmp, "tok");
const corpus = "Hello world. The cat sat on the mat. Hello again, world! Stop here. ".repeat(8);
writeTokenizerFiles(tokDir, trainBpe(corpus, { vocabSize: 300 }), { chatTemplate: CHATML_TEMPLATE });

test("init-model --preset tiny writes an HF folder whose weights are the seeded initialisation", async () => {
  const out = join(tmp, "tiny");
  const r = await cli("init-model", "--preset", "tiny", "--out", out, "--seed", "7");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*tiny: qwen2, 156,736 parameters \(vocab 512, hidden 64, 2 layers, 4\/2 heads\), seed 7/);
  const ck = loadCheckpoint(out);
  const config = presetConfig("tiny");
  assert.equal(ck.config.vocabSize, 512);
  assert.equal(ck.config.hiddenSize, 64);
  assert.equal(ck.config.torchDtype, "float32");
  const expected = initWeights(config, { seed: 7 });
  assert.deepEqual([...ck.weights.keys()], [...expected.keys()]);
  for (const [name, w] of expected) assert.deepEqual(ck.weights.get(name), w, name);
  assert.deepEqual(ck.tokenizerFiles, []);
  // The folder exists now: a second run refuses, --force replaces.
  const again = await cli("init-model", "--preset", "tiny", "--out", out);
  assert.equal(again.code, 2);
  assert.match(again.err, /already exists/);
  assert.equal((await cli("init-model", "--preset", "tiny", "--out", out, "--seed", "8", "--force")).code, 0);
  assert.notDeepEqual(loadCheckpoint(out).weights.get("model.embed_tokens.weight"), expected.get("model.embed_tokens.weight"));
});

test("init-model with --tokenizer and --config: vocabulary and special ids follow the tokenizer, files are copied", async () => {
  const out = join(tmp, "withtok");
  const cfgFile = join(tmp, "override.json");
  writeFileSync(cfgFile, JSON.stringify({ num_hidden_layers: 1, hidden_size: 32, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 40 }));
  const r = await cli("init-model", "--preset", "tiny", "--config", cfgFile, "--out", out, "--tokenizer", join(tokDir, "tokenizer.json"));
  assert.equal(r.code, 0, r.err);
  const ck = loadCheckpoint(out);
  assert.deepEqual(ck.tokenizerFiles.sort(), ["tokenizer.json", "tokenizer_config.json"]);
  assert.equal(readFileSync(join(out, "tokenizer.json"), "utf8"), readFileSync(join(tokDir, "tokenizer.json"), "utf8"));
  const tok = new LoadedModel(ck.config, ck.weights, out).tokenizer!;
  // --config on top of the preset keeps the larger vocabulary (512 > the tokenizer's).
  assert.equal(ck.config.vocabSize, 512);
  assert.equal(ck.config.numLayers, 1);
  assert.equal(ck.config.hiddenSize, 32);
  assert.equal(ck.config.eosTokenId, tok.eosId);
  assert.equal(ck.config.bosTokenId, tok.endOfTextId);
  // A preset alone takes the tokenizer's vocabulary size.
  const out2 = join(tmp, "withtok2");
  assert.equal((await cli("init-model", "--preset", "tiny", "--out", out2, "--tokenizer", tokDir)).code, 0);
  assert.equal(loadCheckpoint(out2).config.vocabSize, tok.vocabSize);
});

test("init-model errors name the problem", async () => {
  const none = await cli("init-model", "--out", join(tmp, "x"));
  assert.equal(none.code, 2);
  assert.match(none.err, /needs --preset \(tiny, reference, qwen2.5-0.5b-shape\) or --config FILE/);
  const bad = await cli("init-model", "--preset", "huge", "--out", join(tmp, "x"));
  assert.match(bad.err, /unknown model preset "huge"/);
  const seed = await cli("init-model", "--preset", "tiny", "--out", join(tmp, "x"), "--seed", "abc");
  assert.match(seed.err, /--seed must be an integer >= 0, got "abc"/);
  const tok = await cli("init-model", "--preset", "tiny", "--out", join(tmp, "x"), "--tokenizer", join(tmp, "nope.json"));
  assert.match(tok.err, /--tokenizer: .*nope.json does not exist/);
  assert.equal(existsSync(join(tmp, "x")), false);
});

test("forward --json prints every position's logits and hidden states (the PyTorch reference values)", async () => {
  const f = loadParityFixture("untied");
  const ids = f.inputIds[1]!;
  const r = await cli("forward", "--model", parityFixtureDir("untied"), "--ids", ids.join(","), "--json");
  assert.equal(r.code, 0, r.err);
  const json = JSON.parse(r.out) as { logits: number[][]; hidden: number[][] };
  assert.deepEqual(Object.keys(json), ["logits", "hidden"]);
  assert.equal(json.logits.length, 7);
  assert.equal(json.hidden.length, 7);
  let worst = 0;
  for (let p = 0; p < 7; p++) {
    assert.equal(json.logits[p]!.length, 97);
    assert.equal(json.hidden[p]!.length, 32);
    json.logits[p]!.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - f.logits.data[(7 + p) * 97 + j]!))));
    json.hidden[p]!.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - f.hidden.data[(7 + p) * 32 + j]!))));
  }
  assert.ok(worst <= 1e-4, `differs from the reference by ${worst}`);
});

test("forward without --json lists the top next tokens; bad ids are user errors", async () => {
  const dir = parityFixtureDir("tied");
  const r = await cli("forward", "--model", dir, "--ids", "5,17");
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split("\n");
  assert.equal(lines.length, 3);
  const f = loadParityFixture("tied");
  const row = f.logits.data.subarray(97, 194);
  const best = row.indexOf(Math.max(...row));
  assert.match(lines[2]!, new RegExp(`^\\s+1  17  ->  ${best} \\(${row[best]!.toFixed(3)}\\)`));
  const oob = await cli("forward", "--model", dir, "--ids", "5,97");
  assert.equal(oob.code, 2);
  assert.match(oob.err, /token id 97 is outside the vocabulary of .* \(vocab_size 97\)/);
  assert.match((await cli("forward", "--model", dir, "--ids", "1,,2")).err, /--ids must be comma-separated token ids/);
  assert.match((await cli("forward", "--model", dir)).err, /exactly one of --ids and --text/);
  assert.match((await cli("forward", "--model", join(tmp, "missing"), "--ids", "1")).err, /does not exist/);
});

test("generate streams the same text as the library's greedy generation; chat template, --raw and --stop", async () => {
  const dir = join(tmp, "gen");
  assert.equal((await cli("init-model", "--preset", "tiny", "--out", dir, "--tokenizer", tokDir, "--seed", "2")).code, 0);
  // Larger random weights than the default init, so that the greedy text is not a single repeated token.
  const model = LoadedModel.fromDir(dir);
  for (const [name, w] of model.weights) if (!name.includes("norm")) for (let i = 0; i < w.length; i++) w[i]! *= 25;
  const { saveCheckpoint } = await import("../../src/model/checkpoint.ts");
  saveCheckpoint(dir, model.config, new Map(model.weights as ReadonlyMap<string, Float32Array>), { overwrite: true, tokenizerFrom: tokDir });
  const tok = LoadedModel.fromDir(dir).tokenizer!;

  const expectText = async (ids: number[], eos: number[], stop?: string[]) => {
    const m = LoadedModel.fromDir(dir);
    const [res] = await generateBatch(await m.decoder(), [ids], { greedy: true, maxNewTokens: 12, eosIds: eos, stopStrings: stop }, m.tokenizer);
    return res!;
  };
  const chatIds = tok.encodeChat([{ role: "user", content: "Hello" }], { addGenerationPrompt: true });
  const eos = [...new Set([tok.eosId!, tok.imEndId!])];
  const ref = await expectText(chatIds, eos);
  const r = await cli("generate", "--model", dir, "--prompt", "Hello", "--greedy", "--max-new-tokens", "12");
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, ref.text + "\n");
  assert.ok(ref.ids.length > 0);

  const rawRef = await expectText(tok.encode("Hello"), eos);
  const raw = await cli("generate", "--model", dir, "--prompt", "Hello", "--greedy", "--max-new-tokens", "12", "--raw", "--stats");
  assert.equal(raw.out, rawRef.text + "\n");
  assert.match(raw.err, /\[1 prompt tokens, \d+ generated \((length|eos)\)/);

  // Stop at a piece of the text the model writes: the output ends before it.
  const full = rawRef.text;
  const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
  assert.equal(stop.length, 2, `text: ${JSON.stringify(full)}`);
  const s = await cli("generate", "--model", dir, "--prompt", "Hello", "--greedy", "--max-new-tokens", "12", "--raw", "--stop", stop);
  assert.equal(s.out, full.slice(0, full.indexOf(stop)) + "\n");
  assert.ok(full.indexOf(stop) > 0);
  // Seeded sampling is reproducible.
  const a = await cli("generate", "--model", dir, "--prompt", "Hello", "--temperature", "1.2", "--top-p", "0.9", "--seed", "5", "--max-new-tokens", "10");
  const b = await cli("generate", "--model", dir, "--prompt", "Hello", "--temperature", "1.2", "--top-p", "0.9", "--seed", "5", "--max-new-tokens", "10");
  assert.equal(a.out, b.out);

  assert.match((await cli("generate", "--model", dir, "--prompt", "x", "--top-p", "2")).err, /top-p must be in \(0, 1\], got 2/);
  assert.match((await cli("generate", "--model", dir, "--prompt", "x", "--mode", "nope")).err, /--mode must be parallel or sequential/);
  assert.match((await cli("generate", "--model", join(tmp, "tiny"), "--prompt", "x")).err, /needs tokenizer files/);
});

test("bench decode --json prints the decode figures and the bound of the same run", async () => {
  const r = await cli("bench", "decode", "--preset", "tiny", "--runs", "1", "--new-tokens", "2", "--prompt-tokens", "4", "--threads", "1", "--json");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as Record<string, number | string>;
  for (const k of ["prefill_tokens_per_s", "decode_ms_per_token", "bound_ms_per_token", "copy_gb_per_s"]) {
    assert.equal(typeof j[k], "number", k);
    assert.ok((j[k] as number) > 0, k);
  }
  assert.equal(j.model, "tiny");
  assert.equal(j.weight_bytes, 4 * 156736);
  assert.deepEqual([j.prompt_tokens, j.new_tokens, j.runs, j.threads], [4, 2, 1, 1]);
  assert.match((await cli("bench", "decode", "--preset", "nope")).err, /unknown model preset "nope"/);
});

test("the flythinker executable runs generate end to end", () => {
  const dir = join(tmp, "exe");
  const bin = fileURLToPath(new URL("../../bin/flythinker.js", import.meta.url));
  execFileSync(process.execPath, [bin, "init-model", "--preset", "tiny", "--out", dir, "--tokenizer", tokDir, "--seed", "4"]);
  const out = execFileSync(process.execPath, [bin, "generate", "--model", dir, "--prompt", "Hello", "--greedy", "--max-new-tokens", "5", "--raw"], { encoding: "utf8" });
  const again = execFileSync(process.execPath, [bin, "generate", "--model", dir, "--prompt", "Hello", "--greedy", "--max-new-tokens", "5", "--raw"], { encoding: "utf8" });
  assert.equal(out, again);
  assert.ok(out.endsWith("\n"));
});

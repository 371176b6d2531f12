import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectedTensors, loadCheckpoint, saveCheckpoint } from "../../src/model/checkpoint.ts";
import { parseConfig, presetConfig, serializeConfig, type ModelConfig } from "../../src/model/config.ts";
import { initWeights, withTokenizer } from "../../src/model/init.ts";
import { bf16BitsToF32, f32ToBf16Bits, writeSafetensors, writeSafetensorsShards } from "../../src/model/safetensors.ts";
import { UserError } from "../../src/util/errors.ts";

const tmp = mkdtempSync(join(tmpdir(), "ckpt-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function small(patch: Partial<ModelConfig> = {}): ModelConfig {
  return { ...presetConfig("tiny"), vocabSize: 40, hiddenSize: 16, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24, bosTokenId: null, eosTokenId: 39, ...patch };
}

test("expectedTensors lists HF names and [out, in] shapes", () => {
  const c = small({ numLayers: 1, tieWordEmbeddings: false });
  assert.deepEqual(
    expectedTensors(c).map((t) => `${t.name} ${t.shape.join("x")} ${t.init}`),
    [
      "model.embed_tokens.weight 40x16 normal",
      "model.layers.0.input_layernorm.weight 16 ones",
      "model.layers.0.self_attn.q_proj.weight 16x16 normal",
      "model.layers.0.self_attn.q_proj.bias 16 zeros",
      "model.layers.0.self_attn.k_proj.weight 8x16 normal",
      "model.layers.0.self_attn.k_proj.bias 8 zeros",
      "model.layers.0.self_attn.v_proj.weight 8x16 normal",
      "model.layers.0.self_attn.v_proj.bias 8 zeros",
      "model.layers.0.self_attn.o_proj.weight 16x16 normal",
      "model.layers.0.post_attention_layernorm.weight 16 ones",
      "model.layers.0.mlp.gate_proj.weight 24x16 normal",
      "model.layers.0.mlp.up_proj.weight 24x16 normal",
      "model.layers.0.mlp.down_proj.weight 16x24 normal",
      "model.norm.weight 16 ones",
      "lm_head.weight 40x16 normal",
    ],
  );
  const tied = expectedTensors(small({ numLayers: 1, tieWordEmbeddings: true })).map((t) => t.name);
  assert.ok(!tied.includes("lm_head.weight"));
  const llama = expectedTensors(small({ numLayers: 1, modelType: "llama", qkvBias: false })).map((t) => t.name);
  assert.ok(!llama.some((n) => n.endsWith(".bias")));
  const llamaBias = expectedTensors(small({ numLayers: 1, modelType: "llama", qkvBias: true, oProjBias: true })).map((t) => t.name);
  assert.ok(llamaBias.includes("model.layers.0.self_attn.o_proj.bias"));
});

test("initWeights: seeded normal(0, 0.02), norms 1, biases 0", () => {
  const c = small({ hiddenSize: 64, headDim: 16, vocabSize: 512, intermediateSize: 172 });
  const w = initWeights(c, { seed: 1 });
  const w2 = initWeights(c, { seed: 1 });
  const w3 = initWeights(c, { seed: 2 });
  assert.deepEqual([...w.keys()], expectedTensors(c).map((t) => t.name));
  for (const [k, v] of w) assert.deepEqual(v, w2.get(k));
  assert.notDeepEqual(w.get("model.embed_tokens.weight"), w3.get("model.embed_tokens.weight"));
  const e = w.get("model.embed_tokens.weight")!;
  let s2 = 0;
  for (const v of e) s2 += v * v;
  assert.ok(Math.abs(Math.sqrt(s2 / e.length) - 0.02) < 0.0005, `sd ${Math.sqrt(s2 / e.length)}`);
  assert.ok(w.get("model.norm.weight")!.every((v) => v === 1));
  assert.ok(w.get("model.layers.1.self_attn.k_proj.bias")!.every((v) => v === 0));
});

test("save -> load round trip is bit-exact (untied, tied, sharded)", () => {
  for (const [name, cfg, shard] of [
    ["untied", small({ tieWordEmbeddings: false }), undefined],
    ["tied", small({ tieWordEmbeddings: true }), undefined],
    ["sharded", small({ tieWordEmbeddings: false }), 4000],
  ] as const) {
    const weights = initWeights(cfg, { seed: 9 });
    const dir = join(tmp, `rt-${name}`);
    saveCheckpoint(dir, cfg, weights, { maxShardBytes: shard });
    const files = readdirSync(dir).sort();
    if (shard) {
      assert.ok(files.includes("model.safetensors.index.json"));
      assert.ok(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length > 1);
    } else {
      assert.deepEqual(files, ["config.json", "model.safetensors"]);
    }
    const ck = loadCheckpoint(dir);
    assert.deepEqual(ck.config, cfg);
    assert.deepEqual([...ck.weights.keys()], [...weights.keys()]);
    for (const [k, v] of weights) {
      const got = ck.weights.get(k)!;
      assert.deepEqual(new Uint8Array(got.buffer, got.byteOffset, got.byteLength), new Uint8Array(v.buffer), k);
      assert.deepEqual(ck.shapes.get(k), expectedTensors(cfg).find((t) => t.name === k)!.shape);
      assert.equal(ck.dtypes.get(k), "F32");
    }
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).torch_dtype, "float32");
  }
});

test("bf16 save rounds to bf16 and says so in config.json", () => {
  const cfg = small();
  const weights = initWeights(cfg, { seed: 3 });
  const dir = join(tmp, "bf16");
  saveCheckpoint(dir, cfg, weights, { dtype: "BF16" });
  const ck = loadCheckpoint(dir);
  assert.equal(ck.config.torchDtype, "bfloat16");
  const e = weights.get("model.embed_tokens.weight")!;
  const got = ck.weights.get("model.embed_tokens.weight")!;
  for (let i = 0; i < e.length; i++) assert.equal(got[i], bf16BitsToF32(f32ToBf16Bits(e[i]!)));
  assert.equal(ck.dtypes.get("model.norm.weight"), "BF16");
});

test("existing folder: refused unless overwrite; overwrite replaces it; tokenizer files copied", () => {
  const cfg = small();
  const weights = initWeights(cfg, { seed: 1 });
  const dir = join(tmp, "exists");
  saveCheckpoint(dir, cfg, weights);
  assert.throws(() => saveCheckpoint(dir, cfg, weights), /output folder .* already exists/);
  const tokDir = join(tmp, "tok");
  mkdirSync(tokDir, { recursive: true });
  writeFileSync(join(tokDir, "tokenizer.json"), '{"fake": true}');
  writeFileSync(join(tokDir, "tokenizer_config.json"), "{}");
  writeFileSync(join(tokDir, "unrelated.txt"), "x");
  saveCheckpoint(dir, cfg, weights, { overwrite: true, tokenizerFrom: tokDir, files: { "README.md": "hello" } });
  assert.deepEqual(readdirSync(dir).sort(), ["README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
  assert.deepEqual(loadCheckpoint(dir).tokenizerFiles, ["tokenizer.json", "tokenizer_config.json"]);
  assert.throws(() => saveCheckpoint(join(tmp, "x"), cfg, weights, { tokenizerFrom: join(tmp, "none") }), /has no tokenizer\.json/);
  // Nothing temporary left next to the folders.
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith(".")), []);
});

test("saving wrong weights is refused before anything is written", () => {
  const cfg = small();
  const weights = initWeights(cfg, { seed: 1 });
  weights.delete("model.norm.weight");
  weights.set("model.layers.0.mlp.up_proj.weight", new Float32Array(5));
  assert.throws(() => saveCheckpoint(join(tmp, "never"), cfg, weights), /missing tensors: model\.norm\.weight[\s\S]*wrong shapes: model\.layers\.0\.mlp\.up_proj\.weight is \[5\], expected \[24, 16\]/);
  assert.equal(existsSync(join(tmp, "never")), false);
});

/** A folder with config.json and a hand-assembled model.safetensors. */
function folder(name: string, cfg: ModelConfig, edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), serializeConfig(cfg));
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const spec of expectedTensors(cfg)) t.set(spec.name, { shape: spec.shape, data: new Float32Array(spec.shape.reduce((a, b) => a * b, 1)) });
  edit(t);
  writeSafetensors(join(dir, "model.safetensors"), t);
  return dir;
}

test("validation: missing, unexpected and wrongly shaped tensors are all listed", () => {
  const cfg = small();
  const dir = folder("invalid", cfg, (t) => {
    t.delete("model.layers.1.mlp.up_proj.weight");
    t.delete("lm_head.weight");
    t.set("model.layers.2.mlp.up_proj.weight", { shape: [24, 16], data: new Float32Array(384) });
    t.set("model.layers.0.self_attn.k_proj.weight", { shape: [16, 16], data: new Float32Array(256) });
    t.set("model.norm.weight", { shape: [1, 16], data: new Float32Array(16) });
  });
  assert.throws(
    () => loadCheckpoint(dir),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /model\.safetensors with .*config\.json: the weights do not match the config/);
      assert.match(e.message, /missing tensors: model\.layers\.1\.mlp\.up_proj\.weight, lm_head\.weight\n/);
      assert.match(e.message, /unexpected tensors: model\.layers\.2\.mlp\.up_proj\.weight\n/);
      assert.match(e.message, /wrong shapes: model\.layers\.0\.self_attn\.k_proj\.weight is \[16, 16\], expected \[8, 16\], model\.norm\.weight is \[1, 16\], expected \[16\]$/);
      return true;
    },
  );
});

test("tied models may carry lm_head.weight; rotary inv_freq buffers are ignored", () => {
  const cfg = small({ tieWordEmbeddings: true });
  const dir = folder("tied-with-head", cfg, (t) => {
    t.set("lm_head.weight", { shape: [40, 16], data: new Float32Array(640) });
    t.set("model.layers.0.self_attn.rotary_emb.inv_freq", { shape: [2], data: new Float32Array(2) });
  });
  const ck = loadCheckpoint(dir);
  assert.equal(ck.weights.has("lm_head.weight"), false);
  assert.equal(ck.weights.size, expectedTensors(cfg).length);
  const bad = folder("tied-bad-head", cfg, (t) => t.set("lm_head.weight", { shape: [41, 16], data: new Float32Array(656) }));
  assert.throws(() => loadCheckpoint(bad), /wrong shapes: lm_head\.weight is \[41, 16\], expected \[40, 16\]/);
});

test("folder errors", () => {
  assert.throws(() => loadCheckpoint(join(tmp, "nope")), /model folder .*nope does not exist/);
  const d = join(tmp, "noconfig");
  mkdirSync(d, { recursive: true });
  assert.throws(() => loadCheckpoint(d), /has no config\.json/);
  writeFileSync(join(d, "config.json"), serializeConfig(small()));
  writeFileSync(join(d, "model.ckpt"), "x");
  assert.throws(() => loadCheckpoint(d), /has none of model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin \(found: config\.json, model\.ckpt\)/);
  // pytorch_model.bin is read (PyTorch's zip format); one that is not such a file is named.
  writeFileSync(join(d, "pytorch_model.bin"), "x");
  assert.throws(() => loadCheckpoint(d), /noconfig\/pytorch_model\.bin: 1 bytes, too short for a zip archive/);
});

test("sharded folder written by hand loads", () => {
  const cfg = small();
  const dir = join(tmp, "hand-sharded");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), serializeConfig(cfg));
  const w = initWeights(cfg, { seed: 4 });
  const t = new Map(expectedTensors(cfg).map((s) => [s.name, { shape: s.shape, data: w.get(s.name)! }]));
  writeSafetensorsShards(dir, t, { maxShardBytes: 3000 });
  const ck = loadCheckpoint(dir);
  for (const [k, v] of w) assert.deepEqual(ck.weights.get(k), v);
  assert.deepEqual(parseConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))), cfg);
});

test("withTokenizer fits vocab size and special ids to a tokenizer", () => {
  const tiny = presetConfig("tiny");
  const c = withTokenizer(tiny, { vocabSize: 1024, eosId: 1023, bosId: null, endOfTextId: 1021 });
  assert.deepEqual([c.vocabSize, c.bosTokenId, c.eosTokenId], [1024, 1021, 1023]);
  const q = withTokenizer(presetConfig("qwen2.5-0.5b-shape"), { vocabSize: 151669, eosId: 151645, bosId: null, endOfTextId: 151643 }, { keepLargerVocab: true });
  assert.deepEqual([q.vocabSize, q.bosTokenId, q.eosTokenId], [151936, 151643, 151645]);
});

test("a HF folder holding pytorch_model.bin (torch.save of the state dict) loads the same weights as its safetensors twin", () => {
  const bin = loadCheckpoint("test/fixtures/torch/model-bin");
  const st = loadCheckpoint("test/fixtures/model/tied");
  assert.deepEqual([...bin.weights.keys()], [...st.weights.keys()]);
  for (const [name, w] of st.weights) assert.deepEqual([...bin.weights.get(name)!], [...w], name);
  assert.equal(bin.dtypes.get("model.embed_tokens.weight"), "F32");
});

test("a weight stored as an integer dtype is refused with the tensor named (never cast)", () => {
  const cfg = small();
  const dir = join(tmp, "int-weight");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), serializeConfig(cfg));
  const w = initWeights(cfg, { seed: 4 });
  const file = join(dir, "model.safetensors");
  writeSafetensors(file, new Map(expectedTensors(cfg).map((s) => [s.name, { shape: s.shape, data: w.get(s.name)! }])));
  // Relabel one tensor's F32 bytes as I32 (same width, same header length).
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, { dtype: string }>;
  assert.equal(header["model.norm.weight"]!.dtype, "F32");
  header["model.norm.weight"]!.dtype = "I32";
  const text = JSON.stringify(header).padEnd(n, " ");
  assert.equal(Buffer.byteLength(text), n);
  buf.write(text, 8, "utf8");
  writeFileSync(file, buf);
  assert.throws(() => loadCheckpoint(dir), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.message, `${file}: tensor "model.norm.weight" is stored as I32; model weights must be floating point (F32, BF16, F16 or F64)`);
    return true;
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  configToJson,
  parameterCount,
  parseConfig,
  presetConfig,
  readConfig,
  serializeConfig,
  validateConfig,
} from "../../src/model/config.ts";
import { UserError } from "../../src/util/errors.ts";

// The config.json of Qwen2.5-0.5B-Instruct as published (fields as transformers 4.43 writes them).
const QWEN25_05B = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: "silu",
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.43.1",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const tmp = mkdtempSync(join(tmpdir(), "cfg-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("reads a real Qwen2.5 config", () => {
  const c = parseConfig(QWEN25_05B);
  assert.equal(c.modelType, "qwen2");
  assert.equal(c.hiddenSize, 896);
  assert.equal(c.numLayers, 24);
  assert.equal(c.numHeads, 14);
  assert.equal(c.numKvHeads, 2);
  assert.equal(c.headDim, 64);
  assert.equal(c.intermediateSize, 4864);
  assert.equal(c.vocabSize, 151936);
  assert.equal(c.rmsNormEps, 1e-6);
  assert.equal(c.ropeTheta, 1e6);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.qkvBias, true);
  assert.equal(c.oProjBias, false);
  assert.equal(c.bosTokenId, 151643);
  assert.equal(c.eosTokenId, 151645);
  assert.equal(c.torchDtype, "bfloat16");
  assert.equal(c.maxPositionEmbeddings, 32768);
  assert.equal(c.extra.transformers_version, "4.43.1");
  // 494,032,768 parameters: the published count of Qwen2.5-0.5B.
  assert.equal(parameterCount(c), 494032768);
});

test("a config survives serialise -> parse unchanged, with unknown fields kept and keys sorted", () => {
  const c = parseConfig(QWEN25_05B);
  const json = JSON.parse(serializeConfig(c));
  assert.deepEqual(Object.keys(json), [...Object.keys(json)].sort());
  for (const [k, v] of Object.entries(QWEN25_05B)) assert.deepEqual(json[k], v, `field ${k}`);
  assert.deepEqual(parseConfig(json), c);
  assert.ok(serializeConfig(c).endsWith("}\n"));
});

test("llama: no biases by default; attention_bias gives q/k/v and o biases; head_dim honoured", () => {
  const base = { ...QWEN25_05B, model_type: "llama", architectures: ["LlamaForCausalLM"] };
  const l = parseConfig(base);
  assert.equal(l.qkvBias, false);
  assert.equal(l.oProjBias, false);
  const lb = parseConfig({ ...base, attention_bias: true, head_dim: 128 });
  assert.equal(lb.qkvBias, true);
  assert.equal(lb.oProjBias, true);
  assert.equal(lb.headDim, 128);
  assert.equal(configToJson(lb).head_dim, 128);
  assert.deepEqual(parseConfig(configToJson(lb)), lb);
  // qwen2 honours an explicit attention_bias: false
  assert.equal(parseConfig({ ...QWEN25_05B, attention_bias: false }).qkvBias, false);
  // newer transformers write "dtype"; it is read and written back as torch_dtype
  const nd = parseConfig({ ...QWEN25_05B, torch_dtype: undefined, dtype: "float32" });
  assert.equal(nd.torchDtype, "float32");
  assert.equal(configToJson(nd).dtype, undefined);
  // eos as a list
  assert.deepEqual(parseConfig({ ...base, eos_token_id: [1, 2] }).eosTokenId, [1, 2]);
});

test("validation errors name the file and the field", () => {
  const bad = (patch: Record<string, unknown>, re: RegExp) => {
    const path = join(tmp, "config.json");
    writeFileSync(path, JSON.stringify({ ...QWEN25_05B, ...patch }));
    assert.throws(
      () => readConfig(path),
      (e: unknown) => e instanceof UserError && e.message.startsWith(path) && re.test(e.message),
    );
  };
  bad({ model_type: "gpt2" }, /field "model_type" must be "qwen2" or "llama"/);
  bad({ hidden_size: undefined }, /missing required field "hidden_size"/);
  bad({ hidden_size: 0 }, /field "hidden_size" must be a positive integer, got 0/);
  bad({ num_hidden_layers: 2.5 }, /field "num_hidden_layers" must be a positive integer, got 2.5/);
  bad({ vocab_size: "151936" }, /field "vocab_size" must be a positive integer/);
  bad({ num_attention_heads: 13 }, /"hidden_size" \(896\) must be divisible by "num_attention_heads" \(13\)/);
  bad({ num_key_value_heads: 3 }, /"num_attention_heads" \(14\) must be a multiple of "num_key_value_heads" \(3\)/);
  bad({ rms_norm_eps: -1 }, /field "rms_norm_eps" must be a positive number/);
  bad({ rope_theta: "big" }, /field "rope_theta" must be a positive number/);
  bad({ tie_word_embeddings: "yes" }, /field "tie_word_embeddings" must be true or false/);
  bad({ hidden_act: "gelu" }, /field "hidden_act" must be "silu"/);
  bad({ torch_dtype: "int8" }, /field "torch_dtype" must be "float32", "bfloat16" or "float16"/);
  bad({ eos_token_id: 200000 }, /special token id 200000 is outside the vocabulary \(vocab_size 151936\)/);
  bad({ rope_scaling: { type: "yarn", factor: 4 } }, /field "rope_scaling" must be null/);
  bad({ use_sliding_window: true }, /"use_sliding_window": true is not supported/);
  bad({ head_dim: 7, num_attention_heads: 14 }, /head size \(7\) must be even/);
  const path = join(tmp, "broken.json");
  writeFileSync(path, "{ not json");
  assert.throws(() => readConfig(path), new RegExp(`^UserError: ${path}: not valid JSON`));
  assert.throws(() => readConfig(join(tmp, "absent.json")), /cannot read model config/);
  assert.throws(() => parseConfig([1], "x.json"), /x\.json: expected a JSON object/);
});

test("presets", () => {
  const tiny = presetConfig("tiny");
  assert.deepEqual(
    [tiny.vocabSize, tiny.hiddenSize, tiny.numLayers, tiny.numHeads, tiny.numKvHeads, tiny.intermediateSize],
    [512, 64, 2, 4, 2, 172],
  );
  const ref = presetConfig("reference");
  assert.deepEqual(
    [ref.vocabSize, ref.hiddenSize, ref.numLayers, ref.numHeads, ref.numKvHeads, ref.intermediateSize, ref.tieWordEmbeddings, ref.qkvBias],
    [4096, 256, 4, 4, 2, 688, false, true],
  );
  // The reference model of docs/conventions.md (Performance yardsticks): 5.0M parameters.
  // 2*4096*256 + 4*(3*256*256 + 512 + 3*256*688 + 2*256) + 256 (hand count)
  assert.equal(parameterCount(ref), 5_001_472);
  const q = presetConfig("qwen2.5-0.5b-shape");
  assert.deepEqual(
    [q.hiddenSize, q.numLayers, q.numHeads, q.numKvHeads, q.intermediateSize, q.vocabSize, q.tieWordEmbeddings, q.ropeTheta, q.rmsNormEps],
    [896, 24, 14, 2, 4864, 151936, true, 1e6, 1e-6],
  );
  assert.equal(parameterCount(q), 494032768);
  for (const name of ["tiny", "reference", "qwen2.5-0.5b-shape"]) {
    const p = presetConfig(name);
    assert.deepEqual(validateConfig(p), p);
  }
  assert.throws(() => presetConfig("huge"), /unknown model preset "huge" \(known: tiny, reference, qwen2\.5-0\.5b-shape\)/);
});

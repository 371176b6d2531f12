import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Graph, type Tensor } from "../../src/graph/index.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/model/checkpoint.ts";
import { presetConfig, serializeConfig, type ModelConfig } from "../../src/model/config.ts";
import { expectedTensors, hfName, namedLeaves, paramsFromFlat, paramsFromNamed } from "../../src/model/hf-names.ts";
import { initParams, initWeights } from "../../src/model/init.ts";
import { mapParams, paramLeaves, paramSpecs } from "../../src/model/params.ts";
import { declareParams, embedTokens, forward } from "../../src/model/qwen2.ts";
import { writeSafetensors } from "../../src/model/safetensors.ts";
import { UserError } from "../../src/util/errors.ts";

const tmp = mkdtempSync(join(tmpdir(), "hf-names-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function small(patch: Partial<ModelConfig> = {}): ModelConfig {
  return { ...presetConfig("tiny"), vocabSize: 40, hiddenSize: 16, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24, numLayers: 2, bosTokenId: null, eosTokenId: 39, ...patch };
}

const VARIANTS: Record<string, Partial<ModelConfig>> = {
  "untied, q/k/v biases": { tieWordEmbeddings: false, qkvBias: true, oProjBias: false },
  "tied, q/k/v biases": { tieWordEmbeddings: true, qkvBias: true, oProjBias: false },
  "untied, no biases": { modelType: "llama", tieWordEmbeddings: false, qkvBias: false, oProjBias: false },
  "tied, all attention biases": { modelType: "llama", tieWordEmbeddings: true, qkvBias: true, oProjBias: true },
};

for (const [variant, patch] of Object.entries(VARIANTS)) {
  test(`tree <-> HF names round-trips (${variant})`, () => {
    const c = small(patch);
    const tree = initParams(c, { seed: 5 });
    const named = namedLeaves(tree);
    // Names and order are those of expectedTensors, each leaf has its tensor's size.
    assert.deepEqual(named.map(([n]) => n), expectedTensors(c).map((t) => t.name));
    named.forEach(([, data], i) => assert.equal(data.length, expectedTensors(c)[i]!.shape.reduce((a, b) => a * b, 1)));
    assert.equal(tree.head !== undefined, !c.tieWordEmbeddings);
    assert.equal(tree.layers[1]!.q.bias !== undefined, c.qkvBias);
    assert.equal(tree.layers[1]!.v.bias !== undefined, c.qkvBias);
    assert.equal(tree.layers[0]!.o.bias !== undefined, c.oProjBias);
    assert.equal(tree.layers[0]!.gate.bias, undefined);
    // Back: the same arrays in the same places.
    const back = paramsFromFlat(c, new Map(named), "test weights");
    assert.deepEqual(paramLeaves(back), paramLeaves(tree));
    assert.equal(back.embed, tree.embed);
    assert.equal(back.layers[1]!.down.weight, tree.layers[1]!.down.weight);
    assert.equal(back.layers[1]!.q.bias, tree.layers[1]!.q.bias);
    // initWeights is the same tree keyed by name (same seed, same values).
    assert.deepEqual([...initWeights(c, { seed: 5 })], named);
  });
}

test("hfName spells layer leaves with their index and part", () => {
  assert.equal(hfName({ layer: 3, field: "q", part: "bias" }), "model.layers.3.self_attn.q_proj.bias");
  assert.equal(hfName({ layer: 0, field: "postNorm" }), "model.layers.0.post_attention_layernorm.weight");
  assert.equal(hfName({ layer: 1, field: "down", part: "weight" }), "model.layers.1.mlp.down_proj.weight");
  assert.equal(hfName({ field: "head" }), "lm_head.weight");
  const specs = paramSpecs(small({ tieWordEmbeddings: false }));
  assert.deepEqual(specs.layers[0]!.k.weight, { shape: [8, 16], init: "normal" });
  assert.deepEqual(specs.layers[0]!.k.bias, { shape: [8], init: "zeros" });
  assert.deepEqual(specs.head, { shape: [40, 16], init: "normal" });
});

test("paramsFromNamed names every missing, unexpected and wrongly shaped tensor and the source", () => {
  const c = small({ tieWordEmbeddings: false });
  const shapes = new Map(expectedTensors(c).map((t) => [t.name, t.shape]));
  shapes.delete("model.layers.1.self_attn.q_proj.bias");
  shapes.set("model.layers.0.mlp.up_proj.weight", [16, 24]);
  shapes.set("model.layers.0.self_attn.q_proj.bais", [16]);
  assert.throws(
    () => paramsFromNamed(c, shapes, (s) => s, "some/file.safetensors"),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^some\/file\.safetensors: the weights do not match the config/);
      assert.match(e.message, /missing tensors: model\.layers\.1\.self_attn\.q_proj\.bias\n/);
      assert.match(e.message, /unexpected tensors: model\.layers\.0\.self_attn\.q_proj\.bais\n/);
      assert.match(e.message, /wrong shapes: model\.layers\.0\.mlp\.up_proj\.weight is \[16, 24\], expected \[24, 16\]$/);
      return true;
    },
  );
});

function folder(name: string, cfg: ModelConfig, edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), serializeConfig(cfg));
  const t = new Map(namedLeaves(mapParams(paramSpecs(cfg), (s) => ({ shape: s.shape, data: new Float32Array(s.shape.reduce((a, b) => a * b, 1)) }))));
  edit(t);
  writeSafetensors(join(dir, "model.safetensors"), t);
  return dir;
}

test("loading a checkpoint with a misspelled, a missing or a mis-shaped tensor names it and the file", () => {
  const cfg = small();
  const cases: [string, (t: Map<string, { shape: number[]; data: Float32Array }>) => void, RegExp][] = [
    [
      "misspelled",
      (t) => {
        t.set("model.layers.1.mlp.gate_prj.weight", t.get("model.layers.1.mlp.gate_proj.weight")!);
        t.delete("model.layers.1.mlp.gate_proj.weight");
      },
      /missing tensors: model\.layers\.1\.mlp\.gate_proj\.weight\n {2}unexpected tensors: model\.layers\.1\.mlp\.gate_prj\.weight$/,
    ],
    ["missing", (t) => t.delete("model.layers.0.self_attn.v_proj.bias"), /missing tensors: model\.layers\.0\.self_attn\.v_proj\.bias$/],
    [
      "misshaped",
      (t) => t.set("model.embed_tokens.weight", { shape: [16, 40], data: new Float32Array(640) }),
      /wrong shapes: model\.embed_tokens\.weight is \[16, 40\], expected \[40, 16\]$/,
    ],
  ];
  for (const [name, edit, message] of cases) {
    const dir = folder(name, cfg, edit);
    assert.throws(
      () => loadCheckpoint(dir),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.ok(e.message.startsWith(`${join(dir, "model.safetensors")} with ${join(dir, "config.json")}:`), e.message);
        assert.match(e.message, message);
        return true;
      },
    );
  }
});

test("a checkpoint saved from a tree loads back as the same tree", () => {
  const cfg = small({ tieWordEmbeddings: false });
  const tree = initParams(cfg, { seed: 2 });
  const dir = join(tmp, "from-tree");
  saveCheckpoint(dir, cfg, tree);
  const ck = loadCheckpoint(dir);
  assert.deepEqual(paramLeaves(ck.params), paramLeaves(tree));
  assert.deepEqual(ck.params.layers[1]!.k.bias, tree.layers[1]!.k.bias);
  assert.deepEqual([...ck.weights.keys()], expectedTensors(cfg).map((t) => t.name));
  // A tree whose leaf has the wrong size is refused, naming the tensor.
  const bad = { ...tree, norm: new Float32Array(3) };
  assert.throws(() => saveCheckpoint(join(tmp, "bad-tree"), cfg, bad), /wrong shapes: model\.norm\.weight is \[3\], expected \[16\]/);
});

test("building the graph with a missing or extra parameter names it", () => {
  const cfg = small({ qkvBias: true, tieWordEmbeddings: false });
  const build = (edit: (p: ReturnType<typeof declareParams>) => void) => {
    const g = new Graph();
    const params = declareParams(g, cfg);
    edit(params);
    return forward(cfg, params, { embeds: embedTokens(params, g.input("ids", "int64", ["batch", "seq"])) });
  };
  assert.ok(build(() => {}).logits.shape.length === 3);
  assert.throws(() => build((p) => delete p.layers[1]!.q.bias), /parameter model\.layers\.1\.self_attn\.q_proj\.bias is missing/);
  assert.throws(() => build((p) => delete p.head), /parameter lm_head\.weight is missing/);
  assert.throws(
    () => build((p) => (p.layers[0]!.gate.bias = p.layers[0]!.postNorm)),
    /parameter model\.layers\.0\.mlp\.gate_proj\.bias is not part of this config/,
  );
  assert.throws(
    () => build((p) => (p.layers[0]!.k.weight = p.embed.graph.input("k0", "float32", [16, 16]) as Tensor)),
    /parameter model\.layers\.0\.self_attn\.k_proj\.weight is \[16, 16\], expected \[8, 16\]/,
  );
});

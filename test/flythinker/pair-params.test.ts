import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../../src/graph/index.ts";
import { buildLossGraph, weightInputs } from "../../src/flythinker/graph.ts";
import { flattenPair, pairFromNamed, pairLeaves, unflattenPair } from "../../src/flythinker/pair-params.ts";
import { presetConfig, type ModelConfig } from "../../src/model/config.ts";
import { expectedTensors } from "../../src/model/hf-names.ts";
import { initParams, initWeights } from "../../src/model/init.ts";
import { paramLeaves } from "../../src/model/params.ts";
import { declareParams } from "../../src/model/qwen2.ts";

function tiny(patch: Partial<ModelConfig> = {}): ModelConfig {
  return { ...presetConfig("tiny"), vocabSize: 32, hiddenSize: 8, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 4, intermediateSize: 16, ...patch };
}

test("flattenPair names graph inputs generator.* / reasoner.* / fusion.projection.weight; unflattenPair reverses it", () => {
  const generator = tiny({ tieWordEmbeddings: false });
  const reasoner = tiny({ hiddenSize: 12, headDim: 6, tieWordEmbeddings: true });
  const shape = { generator, reasoner, fusion: { fuse: "projection" as const } };
  const projection = new Float32Array(8 * 12).fill(0.5);
  const pair = { generator: initParams(generator, { seed: 1 }), reasoner: initParams(reasoner, { seed: 2 }), projection };
  const flat = flattenPair(pair);
  const names = [
    ...expectedTensors(generator).map((t) => `generator.${t.name}`),
    ...expectedTensors(reasoner).map((t) => `reasoner.${t.name}`),
    "fusion.projection.weight",
  ];
  assert.deepEqual([...flat.keys()], names);
  assert.equal(flat.get("generator.lm_head.weight"), pair.generator.head);
  assert.equal(flat.get("reasoner.model.layers.0.self_attn.q_proj.bias"), pair.reasoner.layers[0]!.q.bias);
  assert.deepEqual([...flat.values()], pairLeaves(pair));

  const back = unflattenPair(shape, new Map([...flat, ["ids", new Float32Array(1)]]));
  assert.deepEqual(pairLeaves(back), pairLeaves(pair));
  assert.equal(back.projection, projection);
  // Graph inputs declared by the loss graph have exactly these names, in this order.
  const lg = buildLossGraph({ generator, reasoner, fusion: { lambda: 0.5, fuse: "projection", enhance: "global" } });
  assert.deepEqual(weightInputs(lg).map((t) => t.inputName), names);
  assert.deepEqual(weightInputs(lg, { freezeReasoner: true }).map((t) => t.inputName), names.filter((n) => !n.startsWith("reasoner.")));

  flat.delete("reasoner.model.norm.weight");
  assert.throws(() => unflattenPair(shape, flat, "run weights"), /run weights: no value for the parameter "reasoner\.model\.norm\.weight"/);
});

test("an SFT pair is the Generator alone; HF-named maps convert with their sizes checked", () => {
  const generator = tiny();
  const flat = flattenPair({ generator: initParams(generator, { seed: 3 }) });
  assert.ok([...flat.keys()].every((n) => /^generator\.(model\.|lm_head\.weight$)/.test(n)));
  const sft = unflattenPair({ generator, fusion: { fuse: "prefix" } }, flat);
  assert.equal(sft.reasoner, undefined);
  assert.equal(sft.projection, undefined);
  const named = initWeights(generator, { seed: 3 });
  const fromNamed = pairFromNamed({ generator, fusion: { fuse: "prefix" } }, { generator: named });
  assert.deepEqual(paramLeaves(fromNamed.generator), [...named.values()]);
  named.set("model.norm.weight", new Float32Array(3));
  assert.throws(() => pairFromNamed({ generator, fusion: { fuse: "prefix" } }, { generator: named }), /model\.norm\.weight is \[3\], expected \[8\]/);
  // Graph trees declared with a prefix carry it in their input names only.
  const g = new Graph();
  assert.equal(declareParams(g, generator, "x.").layers[0]!.up.weight.inputName, "x.model.layers.0.mlp.up_proj.weight");
});

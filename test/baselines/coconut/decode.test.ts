// Coconut decoding: the latent vectors are final-norm hidden states of the previous position, the training graph's
// logits equal sequential decoding's, and the answer decodes through the generation session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildCoconutLossGraph } from "../../../src/baselines/coconut/graph.ts";
import { coconutBatch } from "../../../src/baselines/coconut/batch.ts";
import { CoconutStepModel, splitAtLatents } from "../../../src/baselines/coconut/decoder.ts";
import { compareCoconutPaths, coconutDecodeLogits } from "../../../src/baselines/coconut/verify.ts";
import { inferencePrompt } from "../../../src/baselines/coconut/layout.ts";
import { Decoder } from "../../../src/model/decode.ts";
import { generateRows } from "../../../src/model/generation/session.ts";
import { argmax } from "../../../src/model/generation/pick.ts";
import { compile } from "../../../src/runtime/session.ts";
import { Rng } from "../../../src/util/random.ts";
import { TOKENS, example, sample, tinyModel, weightFeeds } from "./helpers.ts";

/** A tiny model whose final norm has non-unit weights (so normalised and raw residuals differ visibly). */
function model() {
  const m = tinyModel(11);
  const norm = m.weights.get("model.norm.weight")!;
  const rng = new Rng(5);
  for (let i = 0; i < norm.length; i++) norm[i] = 0.5 + rng.float();
  return m;
}

test("coconut: each latent vector is the final-norm hidden state of the position before its slot", async () => {
  const { config, weights } = model();
  const D = config.hiddenSize;
  const e = example(7, 6, [2, 3, 2], 3, { stage: 3, maxLatentStage: 3, c: 1 });
  assert.equal(e.latentCount, 3);
  const lg = buildCoconutLossGraph(config, { latents: 3 });
  const graphThoughts = (await (await compile(lg.graph, { thoughts: lg.thoughts! }, { threads: 1 })).run({ ...coconutBatch([e]).feeds, ...weightFeeds(weights) })).thoughts.data as Float32Array;

  // Independent: full recomputation (no cache) of the head followed by the thoughts so far, through the plain decoder.
  const plain = await Decoder.create(config, weights, { input: "embeds", logits: "none", hidden: "all" });
  const step = await CoconutStepModel.create(config, weights, TOKENS);
  const head = splitAtLatents(e.promptIds, TOKENS.latent).head;
  let inputs = step.embedIds(head);
  const norm = weights.get("model.norm.weight")!;
  for (let j = 0; j < 3; j++) {
    const h = (await plain.prefill([inputs])).hidden[0]!;
    const expected = h.slice(h.length - D);
    const got = graphThoughts.subarray(j * D, (j + 1) * D);
    for (let i = 0; i < D; i++) assert.ok(Math.abs(got[i]! - expected[i]!) < 1e-5, `thought ${j}[${i}]: ${got[i]} vs ${expected[i]}`);
    // Post-norm: divided by the norm's weights it has unit RMS (a pre-norm residual would not).
    const rms = Math.sqrt(expected.reduce((s, v, i) => s + (v / norm[i]!) ** 2, 0) / D);
    assert.ok(Math.abs(rms - 1) < 1e-3, `thought ${j} is not a final-norm output (rms ${rms})`);
    const grown = new Float32Array(inputs.length + D);
    grown.set(inputs);
    grown.set(expected, inputs.length);
    inputs = grown;
  }
  // The step model feeds the same vectors.
  await step.prefillLogits([e.promptIds]);
  const fed = step.lastThoughts[0]!;
  for (let i = 0; i < 3 * D; i++) assert.ok(Math.abs(fed[i]! - graphThoughts[i]!) < 1e-5, `fed[${i}]`);
  await plain.release();
  await step.release();
});

for (const c of [1, 2]) {
  test(`coconut verify: training-graph answer logits equal sequential decoding logits (1e-4, c=${c})`, async () => {
    const { config, weights } = model();
    const e = example(8, 5, [2, 3, 2, 2], 4, { stage: 2, maxLatentStage: 3, c });
    const d = await compareCoconutPaths(config, weights, TOKENS, e);
    assert.ok(d.graphVsDecode < 1e-4, `graph vs decode ${d.graphVsDecode}`);
    assert.ok(d.kvVsUnrolled < 1e-5, `kv vs unrolled ${d.kvVsUnrolled}`);
  });
}

test("coconut: the answer decodes through the generation session (greedy = argmax of the forced logits, batch = alone)", async () => {
  const { config, weights } = model();
  const o = { stage: 4, maxLatentStage: 3, c: 1 };
  const prompts = [sample(9, 5, [], 0).q, sample(10, 8, [], 0).q].map((q) => inferencePrompt(q, TOKENS, o));
  assert.deepEqual(prompts[0]!.slice(-5), [TOKENS.bot, TOKENS.latent, TOKENS.latent, TOKENS.latent, TOKENS.eot]);
  const m = await CoconutStepModel.create(config, weights, TOKENS);
  const gen = generateRows(m, prompts, { maxNewTokens: 6, greedy: true });
  let r = await gen.next();
  while (!r.done) r = await gen.next();
  const batched = r.value.map((x) => x.ids);
  for (const [row, prompt] of prompts.entries()) {
    // Alone, forced along its own greedy tokens: each token is the argmax of the logits before it.
    const e = { promptIds: prompt, targetIds: [...batched[row]!], latentStart: prompt.indexOf(TOKENS.latent), latentCount: 3 };
    const logits = await coconutDecodeLogits(config, weights, TOKENS, e);
    assert.equal(batched[row]!.length, 6);
    logits.forEach((l, i) => assert.equal(argmax(l), batched[row]![i], `row ${row} token ${i}`));
  }
  await m.release();
});

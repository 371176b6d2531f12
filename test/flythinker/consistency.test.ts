// Required property (DESIGN.md section 1): for the same weights and tokens, teacher-forced training-graph logits,
// sequential decoding logits and parallel decoding logits agree at every response position.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildLossGraph } from "../../src/flythinker/graph.ts";
import { PairDecoder, type PairWeights, type DecodeMode } from "../../src/flythinker/decode.ts";
import type { FusionOptions, EnhanceMode, FuseMode } from "../../src/flythinker/fusion.ts";
import { compile } from "../../src/runtime/session.ts";
import { makePair, randomIds, lossFeeds } from "./helpers.ts";

/** Training-graph logits at the positions that predict each target token: [T][vocab]. */
async function teacherForcedLogits(model: PairWeights, prompt: number[], target: number[]): Promise<Float32Array[]> {
  const lg = buildLossGraph(model.pair);
  const c = await compile(lg.graph, { logits: lg.logits }, { threads: 1 });
  const { logits } = await c.run(lossFeeds(model, prompt, target));
  const V = model.pair.generator.vocabSize;
  const data = logits.data as Float32Array;
  return target.map((_, i) => data.slice((prompt.length - 1 + i) * V, (prompt.length + i) * V));
}

async function decodedLogits(model: PairWeights, prompt: number[], target: number[], mode: DecodeMode): Promise<Float32Array[]> {
  const dec = await PairDecoder.create(model, { mode });
  const out: Float32Array[] = [];
  try {
    for await (const step of dec.decode(prompt, (_l, gen) => target[gen.length]!, target.length)) out.push(step.logits);
  } finally {
    await dec.close();
  }
  return out;
}

function withoutReasoner(model: PairWeights): PairWeights {
  return { pair: { ...model.pair, reasoner: undefined }, generator: model.generator };
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!)))));
  return m;
}

const cases: { name: string; fuse: FuseMode; enhance: EnhanceMode; rsnHidden: number }[] = [];
for (const enhance of ["global", "input", "output"] as const) {
  cases.push({ name: `prefix d_R<d_G ${enhance}`, fuse: "prefix", enhance, rsnHidden: 16 });
  cases.push({ name: `prefix d_R=d_G ${enhance}`, fuse: "prefix", enhance, rsnHidden: 32 });
  cases.push({ name: `projection d_R>d_G ${enhance}`, fuse: "projection", enhance, rsnHidden: 48 });
}

for (const c of cases) {
  test(`flythinker: training == sequential == parallel logits (${c.name})`, async () => {
    const fusion: FusionOptions = { lambda: 0.5, fuse: c.fuse, enhance: c.enhance };
    const heads = c.rsnHidden === 48 ? 6 : c.rsnHidden === 32 ? 4 : 2;
    const model = makePair(fusion, { rsn: { hiddenSize: c.rsnHidden, numHeads: heads, numKvHeads: heads / 2, headDim: 8 } });
    const prompt = randomIds(7, 96, 11);
    const target = randomIds(6, 96, 12);
    const tf = await teacherForcedLogits(model, prompt, target);
    const seq = await decodedLogits(model, prompt, target, "sequential");
    const par = await decodedLogits(model, prompt, target, "parallel");
    assert.ok(maxAbsDiff(tf, seq) <= 1e-4, `training vs sequential: ${maxAbsDiff(tf, seq)}`);
    assert.ok(maxAbsDiff(seq, par) <= 1e-4, `sequential vs parallel: ${maxAbsDiff(seq, par)}`);
    // The thoughts matter: the same Generator without them gives different logits.
    const plain = await teacherForcedLogits(withoutReasoner(model), prompt, target);
    assert.ok(maxAbsDiff(tf, plain) > 1e-3, "thoughts had no effect on the logits");
  });
}

test("flythinker: lambda = 0 gives the plain Generator's logits", async () => {
  const model = makePair({ lambda: 0, fuse: "prefix", enhance: "global" });
  const prompt = randomIds(5, 96, 3);
  const target = randomIds(4, 96, 4);
  const fused = await teacherForcedLogits(model, prompt, target);
  const plain = await teacherForcedLogits(withoutReasoner(model), prompt, target);
  assert.ok(maxAbsDiff(fused, plain) <= 1e-6, `diff ${maxAbsDiff(fused, plain)}`);
});

// Required property (docs/method.md, Why the paths agree): for the same weights and tokens, teacher-forced
// training-graph logits, sequential decoding logits and parallel decoding logits agree at every response position.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { PairWeights } from "../../src/flythinker/decode.ts";
import type { FusionOptions, EnhanceMode, FuseMode } from "../../src/flythinker/fusion.ts";
import { teacherForcedLogits, forcedDecodeLogits as decodedLogits, maxAbsDiff } from "../../src/flythinker/verify.ts";
import { makePair, randomIds } from "./helpers.ts";

function withoutReasoner(model: PairWeights): PairWeights {
  return { pair: { ...model.pair, reasoner: undefined }, generator: model.generator };
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

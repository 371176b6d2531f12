// The thought's influence as the continuous batcher reports it: for each token after the first, the KL between the
// Generator's next-token distributions with and without the thought, and the change of the emitted token's
// log-probability, equal those computed by hand from a pair decoder stepped alone (unthoughtLogits, then stepLogits,
// for each token), also for rows decoded together; and a pair whose thoughts reach no generated position shows none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PairDecoder } from "../../src/flythinker/decode.ts";
import type { EnhanceMode } from "../../src/flythinker/fusion.ts";
import { ContinuousBatcher, influenceOf, type Influence } from "../../src/model/generation/continuous.ts";
import { makePair, randomIds } from "./helpers.ts";

async function byHand(enhance: EnhanceMode, prompt: number[], ids: number[]): Promise<Influence[]> {
  const dec = await PairDecoder.create(makePair({ lambda: 0.5, fuse: "prefix", enhance }), { mode: "sequential" });
  const out: Influence[] = [];
  try {
    await dec.prefillLogits([prompt]);
    for (let k = 0; k + 1 < ids.length; k++) {
      const without = (await dec.unthoughtLogits([ids[k]!])).slice();
      const withThought = (await dec.stepLogits([ids[k]!])).slice();
      out.push(influenceOf(withThought, without, ids[k + 1]!));
    }
  } finally {
    await dec.close();
  }
  return out;
}

for (const enhance of ["global", "input"] as EnhanceMode[]) {
  test(`influence (${enhance}): the batcher's per-token KL and log-probability change equal the hand computation`, async () => {
    const dec = await PairDecoder.create(makePair({ lambda: 0.5, fuse: "prefix", enhance }), { mode: "parallel" });
    const prompts = [randomIds(5, 90, 1), randomIds(8, 90, 2)];
    const got: { ids: number[]; influence: (Influence | undefined)[] }[] = prompts.map(() => ({ ids: [], influence: [] }));
    try {
      const batcher = new ContinuousBatcher(dec, null);
      await Promise.all(prompts.map((prompt, r) => batcher.submit({
        prompt,
        options: { temperature: 1, seed: 3 + r, maxNewTokens: 8 },
        influence: true,
        onEvent: (e) => {
          if (e.piece.id === null) return;
          got[r]!.ids.push(e.piece.id);
          got[r]!.influence.push(e.influence);
        },
      })));
    } finally {
      await dec.close();
    }
    for (const [r, prompt] of prompts.entries()) {
      const { ids, influence } = got[r]!;
      assert.equal(ids.length, 8);
      assert.equal(influence[0], undefined, "the first token comes from the prefill: no influence");
      const expected = await byHand(enhance, prompt, ids);
      influence.slice(1).forEach((inf, k) => {
        assert.ok(inf, `row ${r} token ${k + 1} has an influence`);
        assert.ok(Math.abs(inf.kl - expected[k]!.kl) <= 1e-4, `row ${r} token ${k + 1}: KL ${inf.kl} vs ${expected[k]!.kl}`);
        assert.ok(Math.abs(inf.logprobDelta - expected[k]!.logprobDelta) <= 1e-4, `row ${r} token ${k + 1}: delta`);
        if (enhance === "input") assert.ok(inf.kl <= 1e-6 && Math.abs(inf.logprobDelta) <= 1e-5, "no thought at generated positions");
      });
      if (enhance === "global") assert.ok(Math.max(...influence.slice(1).map((i) => i!.kl)) > 1e-4, "the thoughts change predictions");
    }
  });
}

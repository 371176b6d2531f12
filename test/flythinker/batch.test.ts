// Batched pair decoding: each row of a batch (prompts of different lengths, rows ending at different steps) gets the
// logits it gets when decoded alone, in both modes and every enhancement, with prefix and projection fusion.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PairDecoder, type DecodeMode } from "../../src/flythinker/decode.ts";
import { forcedDecodeLogits, maxAbsDiff } from "../../src/flythinker/verify.ts";
import type { EnhanceMode, FuseMode } from "../../src/flythinker/fusion.ts";
import { makePair, randomIds } from "./helpers.ts";

const STOP = 95;

for (const [fuse, enhance, mode] of [
  ["prefix", "global", "parallel"],
  ["prefix", "output", "sequential"],
  ["projection", "input", "parallel"],
  ["projection", "global", "sequential"],
] as [FuseMode, EnhanceMode, DecodeMode][]) {
  test(`flythinker batch (${fuse}, ${enhance}, ${mode}): every row equals decoding it alone (1e-4)`, async () => {
    const rsn = fuse === "projection" ? { hiddenSize: 48, numHeads: 6, numKvHeads: 3, headDim: 8 } : {};
    const model = makePair({ lambda: 0.5, fuse, enhance }, { rsn });
    const prompts = [randomIds(7, 90, 1), randomIds(3, 90, 2), randomIds(5, 90, 3)];
    // Row 0 runs to maxNewTokens; rows 1 and 2 stop early on STOP (which is yielded).
    const forced = [randomIds(6, 90, 4), [...randomIds(2, 90, 5), STOP], [STOP]];
    const dec = await PairDecoder.create(model, { mode });
    const got: Float32Array[][] = prompts.map(() => []);
    const rowsPerStep: number[][] = [];
    try {
      for await (const steps of dec.decodeBatch(prompts, (row, _l, gen) => forced[row]![gen.length]!, 6, (id) => id === STOP)) {
        rowsPerStep.push(steps.map((s) => s.row));
        for (const s of steps) got[s.row]!.push(s.logits);
      }
    } finally {
      await dec.close();
    }
    assert.deepEqual(rowsPerStep, [[0, 1, 2], [0, 1], [0, 1], [0], [0], [0]]);
    for (const [r, prompt] of prompts.entries()) {
      const alone = await forcedDecodeLogits(model, prompt, forced[r]!, mode);
      assert.equal(got[r]!.length, forced[r]!.length);
      const diff = maxAbsDiff(got[r]!, alone);
      assert.ok(diff <= 1e-4, `row ${r}: batched vs alone differ by ${diff}`);
    }
  });
}

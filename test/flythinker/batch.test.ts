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

for (const [fuse, enhance, mode] of [
  ["prefix", "global", "parallel"],
  ["projection", "output", "sequential"],
] as [FuseMode, EnhanceMode, DecodeMode][]) {
  test(`flythinker join (${fuse}, ${enhance}, ${mode}): rows that join a running batch get the logits of decoding alone (1e-4)`, async () => {
    const rsn = fuse === "projection" ? { hiddenSize: 48, numHeads: 6, numKvHeads: 3, headDim: 8 } : {};
    const model = makePair({ lambda: 0.5, fuse, enhance }, { rsn });
    const V = model.pair.generator.vocabSize;
    // Row 0 starts alone; row 1 (longer prompt) joins after 2 steps, row 2 (short) after 3; row 0 leaves after 4.
    const prompts = [randomIds(3, 90, 1), randomIds(9, 90, 2), randomIds(2, 90, 3)];
    const forced = [randomIds(4, 90, 4), randomIds(5, 90, 5), randomIds(4, 90, 6)];
    const joinAt = [0, 2, 3];
    const got: Float32Array[][] = prompts.map(() => []);
    const dec = await PairDecoder.create(model, { mode });
    try {
      let live: number[] = [0];
      let logits = (await dec.prefillLogits([prompts[0]!])).slice();
      for (let step = 0; live.length > 0; step++) {
        live.forEach((row, i) => got[row]!.push(logits.slice(i * V, (i + 1) * V)));
        const keep = live.map((row, i) => [row, i] as const).filter(([row]) => got[row]!.length < forced[row]!.length);
        if (keep.length < live.length) await dec.keepRows(keep.map(([, i]) => i));
        live = keep.map(([row]) => row);
        const stepped = live.length ? (await dec.stepLogits(live.map((row) => forced[row]![got[row]!.length - 1]!))).slice() : new Float32Array(0);
        const joining = joinAt.map((at, row) => (at === step + 1 ? row : -1)).filter((row) => row >= 0);
        if (joining.length === 0) {
          logits = stepped;
          continue;
        }
        const fresh = await dec.addRowsLogits(joining.map((row) => prompts[row]!));
        logits = new Float32Array(stepped.length + fresh.length);
        logits.set(stepped);
        logits.set(fresh, stepped.length);
        live = [...live, ...joining];
      }
    } finally {
      await dec.close();
    }
    for (const [r, prompt] of prompts.entries()) {
      const alone = await forcedDecodeLogits(model, prompt, forced[r]!, mode);
      assert.equal(got[r]!.length, forced[r]!.length, `row ${r} steps`);
      const diff = maxAbsDiff(got[r]!, alone);
      assert.ok(diff <= 1e-4, `row ${r}: joined vs alone differ by ${diff}`);
    }
  });
}

test("unthought logits: the same step without thoughts; equal to the step where thoughts reach no generated position, different where they do, and the cache untouched", async () => {
  for (const [enhance, equal] of [["input", true], ["global", false]] as [EnhanceMode, boolean][]) {
    const model = makePair({ lambda: 0.5, fuse: "prefix", enhance });
    const prompt = randomIds(5, 90, 7);
    const tokens = randomIds(3, 90, 8);
    const dec = await PairDecoder.create(model, { mode: "sequential" });
    const stepped: Float32Array[] = [];
    const without: Float32Array[] = [];
    try {
      await dec.prefillLogits([prompt]);
      for (const t of tokens) {
        without.push((await dec.unthoughtLogits([t])).slice());
        stepped.push((await dec.stepLogits([t])).slice());
      }
    } finally {
      await dec.close();
    }
    // The steps themselves are those of decoding without the extra calls.
    const alone = await forcedDecodeLogits(model, prompt, [...tokens, 0], "sequential");
    assert.ok(maxAbsDiff(stepped, alone.slice(1)) <= 1e-5, `${enhance}: peeking changed the steps`);
    const gap = maxAbsDiff(stepped, without);
    if (equal) assert.ok(gap <= 1e-6, `${enhance}: no thought at generated positions, yet a gap of ${gap}`);
    else assert.ok(gap > 1e-3, `${enhance}: thoughts should change the prediction, gap ${gap}`);
  }
});

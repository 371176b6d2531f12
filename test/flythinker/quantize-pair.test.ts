// Quantized FlyThinker pairs (src/flythinker/quantize-pair.ts): parallel decoding equals sequential decoding on the
// quantized pair, the thoughts still matter, the fusion constant is the float32 one, logits stay close to the float
// pair; a trained output folder quantized -> written -> read gives back the same bytes and logits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pairThoughtScale, type PairWeights } from "../../src/flythinker/decode.ts";
import { embeddingNormScaleOf, type FusionOptions } from "../../src/flythinker/fusion.ts";
import { forcedDecodeLogits, maxAbsDiff, meanNll } from "../../src/flythinker/verify.ts";
import { quantizePair, readAnyTrainedModel, writeQuantizedTrained } from "../../src/flythinker/quantize-pair.ts";
import { writeTrainedModel } from "../../src/flythinker/trained-folder.ts";
import { flattenPair, pairFromNamed } from "../../src/flythinker/pair-params.ts";
import { UserError } from "../../src/util/errors.ts";
import { makePair, randomIds } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "quantize-pair-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const prompt = randomIds(7, 96, 21);
const target = randomIds(6, 96, 22);

function largest(xs: Float32Array[]): number {
  return Math.max(...xs.map((x) => Math.max(...Array.from(x, Math.abs))));
}

for (const fuse of ["prefix", "projection"] as const) {
  test(`quantized pair: parallel == sequential, thoughts matter, s is the float32 one, close to float32 (${fuse})`, async () => {
    const fusion: FusionOptions = { lambda: 0.5, fuse, enhance: "global" };
    const float = makePair(fusion, fuse === "projection" ? { rsn: { hiddenSize: 48, numHeads: 6, numKvHeads: 3, headDim: 8 } } : {});
    const floatLogits = await forcedDecodeLogits(float, prompt, target, "sequential");
    for (const mode of ["int8", "int4"] as const) {
      const q = quantizePair(float, mode);
      assert.equal(q.quantization!.bits, mode === "int8" ? 8 : 4);
      assert.equal(q.thoughtScale, embeddingNormScaleOf(float.generator.get("model.embed_tokens.weight") as Float32Array, 32));
      assert.equal(q.projection, float.projection, "the projection stays float32");
      const seq = await forcedDecodeLogits(q, prompt, target, "sequential");
      const par = await forcedDecodeLogits(q, prompt, target, "parallel");
      assert.ok(maxAbsDiff(seq, par) <= 1e-4, `${mode}: sequential vs parallel ${maxAbsDiff(seq, par)}`);
      const plain: PairWeights = { pair: { ...q.pair, reasoner: undefined }, generator: q.generator, quantization: q.quantization! };
      const without = await forcedDecodeLogits(plain, prompt, target, "sequential");
      assert.ok(maxAbsDiff(seq, without) > 1e-3, `${mode}: thoughts had no effect`);
      // Relative to the largest float32 logit: measured 3.6-4.4% (int8) and 45-72% (int4) on these width-32 random
      // pairs (one block of pure noise per row, int8 activations); int4's bound is a sanity check only.
      const rel = maxAbsDiff(seq, floatLogits) / largest(floatLogits);
      assert.ok(rel <= (mode === "int8" ? 0.08 : 1), `${mode}: ${rel} of the largest logit`);
      // Without a stored s, the quantized pair computes it from its dequantized table: close to, not equal to, s.
      const { thoughtScale: _, ...noScale } = q;
      const recomputed = pairThoughtScale(noScale);
      assert.ok(Math.abs(recomputed - q.thoughtScale!) <= 0.02 * q.thoughtScale! && recomputed !== q.thoughtScale, `${recomputed} vs ${q.thoughtScale}`);
    }
    assert.throws(() => quantizePair(quantizePair(float, "int8"), "int4", "the pair"), (e: unknown) =>
      e instanceof UserError && /the pair is already quantized \(int8, blocks of 32, symmetric\); --quantize asked for int4/.test(e.message));
  });
}

test("a trained output folder quantized, written and read back holds the same bytes and decodes the same", async () => {
  const ids = { bosTokenId: 94, eosTokenId: 95 };
  const float = makePair({ lambda: 0.5, fuse: "prefix", enhance: "global" }, { gen: ids, rsn: ids });
  const src = join(tmp, "fly");
  writeTrainedModel(src, {
    pair: float.pair,
    method: "flythinker",
    weights: flattenPair(pairFromNamed(float.pair, float as never)),
    tokenizerFrom: {},
    tokenizerFingerprint: null,
    training: {},
    metrics: "",
    svg: "",
  });
  const loaded = readAnyTrainedModel(src);
  const q = quantizePair(loaded, { bits: 4, blockSize: 16, symmetric: false });
  const out = join(tmp, "fly-int4");
  writeQuantizedTrained(out, src, q, q.quantization!);
  const back = readAnyTrainedModel(out);
  assert.deepEqual(back.quantization, { bits: 4, blockSize: 16, symmetric: false });
  assert.equal(back.thoughtScale, q.thoughtScale);
  for (const part of ["generator", "reasoner"] as const) {
    for (const [name, t] of q[part]!) assert.deepEqual(back[part]!.get(name), t, `${part} ${name}`);
    assert.equal(back[part]!.size, q[part]!.size);
  }
  const a = await forcedDecodeLogits(q, prompt, target, "parallel");
  const b = await forcedDecodeLogits(back, prompt, target, "parallel");
  assert.equal(maxAbsDiff(a, b), 0);
  assert.throws(() => writeQuantizedTrained(out, src, q, q.quantization!), /already exists/);
});

test("meanNll: -log softmax at the target, averaged over positions", () => {
  // Row 1: probabilities 1/4, 3/4 (target 1); row 2: uniform over 4 (target 0).
  const rows = [Float32Array.of(0, Math.log(3)), Float32Array.of(2, 2, 2, 2)];
  const want = (-Math.log(3 / 4) + Math.log(4)) / 2;
  assert.ok(Math.abs(meanNll(rows, [1, 0]) - want) < 1e-6);
});

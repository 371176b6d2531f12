// The held-out table's paired bootstrap on synthetic per-record values with known answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { summarizeHeldOut } from "../../src/eval/heldout.ts";
import { bootstrapMeanInterval, pairedBootstrapMeans } from "../../src/eval/bootstrap.ts";
import { Rng } from "../../src/util/random.ts";

const rng = new Rng(4);
const ids = Array.from({ length: 40 }, (_, i) => `r${i}`);
const base = ids.map(() => 2 + rng.float());
const res = (nll: number[]) => ({ ids, nll, tokens: nll.map(() => 10) });

test("a constant shift: delta and interval equal the shift, p = 1 / (B + 1); a zero-mean difference: p = 1", () => {
  const shifted = base.map((v) => v - 0.25);
  // Differences +-0.1 in pairs: mean exactly 0.
  const noisy = base.map((v, i) => v + (i % 2 === 0 ? 0.125 : -0.125));
  const h = summarizeHeldOut(
    [{ name: "SFT", dir: "a", result: res(base) }, { name: "Fly", dir: "b", result: res(shifted) }, { name: "Noise", dir: "c", result: res(noisy) }],
    undefined,
    { data: "d", split: "test" },
    { resamples: 199, seed: 1 },
  );
  assert.equal(h.baseline, "SFT");
  const fly = h.methods[1]!.vsBaseline!;
  assert.ok(Math.abs(fly.delta + 0.25) < 1e-12);
  assert.ok(Math.abs(fly.ci.low + 0.25) < 1e-12 && Math.abs(fly.ci.high + 0.25) < 1e-12);
  assert.equal(fly.pValue, 1 / 200);
  assert.equal(fly.nPaired, 40);
  const noise = h.methods[2]!.vsBaseline!;
  assert.ok(Math.abs(noise.delta) < 1e-12);
  assert.equal(noise.pValue, 1);
  assert.ok(noise.ci.low < 0 && noise.ci.high > 0);
  assert.equal(h.methods[0]!.vsBaseline, undefined);
  assert.ok(Math.abs(h.methods[0]!.meanNll - base.reduce((a, b) => a + b, 0) / 40) < 1e-12);
});

test("the interval of a mean of 0/1 values covers the share; the paired test sees a clear difference", () => {
  const ones = Array.from({ length: 100 }, (_, i) => (i < 30 ? 1 : 0));
  const ci = bootstrapMeanInterval(ones, { resamples: 500, seed: 3 });
  assert.ok(ci.low < 0.3 && ci.high > 0.3 && ci.low > 0.15 && ci.high < 0.45, `[${ci.low}, ${ci.high}]`);
  const a = Array.from({ length: 50 }, () => rng.normal());
  const b = a.map((v) => v + 1 + 0.1 * rng.normal());
  assert.ok(pairedBootstrapMeans(a, b, { resamples: 200 }).pValue < 0.01);
});

test("records only one method scored are left out of the comparison; an unknown baseline is named", () => {
  const h = summarizeHeldOut(
    [{ name: "A", dir: "a", result: res(base) }, { name: "B", dir: "b", result: { ids: ids.slice(0, 10), nll: base.slice(0, 10), tokens: Array(10).fill(3) } }],
    "A",
    { data: "d", split: "val" },
    { resamples: 50 },
  );
  assert.equal(h.methods[1]!.vsBaseline!.nPaired, 10);
  assert.equal(h.methods[1]!.vsBaseline!.delta, 0);
  assert.throws(() => summarizeHeldOut([{ name: "A", dir: "a", result: res(base) }], "SFT", { data: "d", split: "t" }), /--nll-baseline SFT: no --nll of that name \(given: A\)/);
});

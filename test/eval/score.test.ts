import { test } from "node:test";
import assert from "node:assert/strict";
import { bootstrapInterval, pairedBootstrap, percentile } from "../../src/eval/bootstrap.ts";
import { scoreAll, scoreSample, scoreSegments, segmentLabel, segmentText, DEFAULT_SEGMENTS } from "../../src/eval/score.ts";

const words = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join(" ");

test("scoreAll: averages per-sample ROUGE/METEOR, corpus BLEU, per-sample arrays; empty input", () => {
  const preds = ["the cat sat on the mat", "hello world", ""];
  const refs = ["the cat sat on the mat", "goodbye world", "something"];
  const r = scoreAll(preds, refs);
  assert.equal(r.n, 3);
  assert.deepEqual(r.perSample.rouge1, [1, 0.5, 0]);
  assert.ok(Math.abs(r.rouge1 - 0.5) < 1e-12);
  assert.ok(Math.abs(r.meteor - (r.perSample.meteor[0]! + r.perSample.meteor[1]! + 0) / 3) < 1e-12);
  assert.equal(r.perSample.meteor[2], 0);
  assert.equal(r.bleuDetail.sysLen, 8);
  assert.equal(r.bleuDetail.refLen, 9);
  const empty = scoreAll([], []);
  assert.deepEqual([empty.n, empty.rouge1, empty.rougeL, empty.bleu, empty.meteor], [0, 0, 0, 0, 0]);
  assert.throws(() => scoreAll(["a"], []), /1 predictions but 0 references/);
});

test("segments: whitespace tokens [0,100), [100,200), [200,300), [300,inf); a sample counts where either side reaches", () => {
  const text = words(350, (i) => `w${i}`);
  assert.equal(segmentText(text, DEFAULT_SEGMENTS[0]!).split(" ").length, 100);
  assert.equal(segmentText(text, DEFAULT_SEGMENTS[1]!).split(" ")[0], "w100");
  assert.equal(segmentText(text, DEFAULT_SEGMENTS[3]!).split(" ").length, 50);
  assert.equal(segmentText("a\n b\t\tc", { start: 1, end: null }), "b c");
  assert.deepEqual(DEFAULT_SEGMENTS.map(segmentLabel), ["0-99", "100-199", "200-299", "300+"]);
  // pred 250 tokens identical to the reference's first 250; reference 320 tokens.
  const ref = words(320, (i) => `t${i}`);
  const pred = words(250, (i) => `t${i}`);
  const segs = scoreSegments([pred, "short"], [ref, "short text"]);
  assert.deepEqual(segs.map((s) => s.indices), [[0, 1], [0], [0], [0]]);
  assert.equal(segs[0]!.samples[0]!.rouge1.fmeasure, 1);
  assert.equal(segs[1]!.samples[0]!.rougeL.fmeasure, 1);
  // [200,300): pred has 50 of the reference's 100 tokens -> P 1, R 0.5.
  assert.equal(segs[2]!.samples[0]!.rouge1.recall, 0.5);
  // [300,inf): the prediction has ended -> 0.
  assert.equal(segs[3]!.samples[0]!.rouge1.fmeasure, 0);
  assert.equal(segs[3]!.samples[0]!.meteor, 0);
});

test("bootstrap: seeded and deterministic, interval brackets the estimate; percentile as numpy", () => {
  assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(percentile([10, 20, 30], 0.25), 15);
  const preds = Array.from({ length: 60 }, (_, i) => words(5 + (i % 7), (k) => (k % 3 === 0 ? "x" : `w${(k + i) % 9}`)));
  const refs = Array.from({ length: 60 }, (_, i) => words(6 + (i % 5), (k) => `w${(k * 2 + i) % 9}`));
  const samples = preds.map((p, i) => scoreSample(p, refs[i]!));
  const point = scoreAll(preds, refs);
  for (const m of ["rouge1", "rougeL", "meteor", "bleu"] as const) {
    const a = bootstrapInterval(samples, m, { resamples: 300, seed: 1 });
    const b = bootstrapInterval(samples, m, { resamples: 300, seed: 1 });
    assert.deepEqual(a, b);
    assert.ok(a.low <= point[m] && point[m] <= a.high, `${m}: ${a.low} <= ${point[m]} <= ${a.high}`);
    assert.ok(a.high - a.low > 0);
  }
  const c = bootstrapInterval(samples, "rouge1", { resamples: 300, seed: 2 });
  assert.notDeepEqual(c, bootstrapInterval(samples, "rouge1", { resamples: 300, seed: 1 }));
});

test("paired bootstrap: identical methods give p = 1, a clearly better method a small p", () => {
  const refs = Array.from({ length: 80 }, (_, i) => words(12, (k) => `w${(k + i) % 17}`));
  const good = refs.map((r) => r.split(" ").slice(0, 10).join(" "));
  const bad = refs.map((_, i) => words(10, (k) => `z${(k * 5 + i) % 13}`));
  const sGood = good.map((p, i) => scoreSample(p, refs[i]!));
  const sBad = bad.map((p, i) => scoreSample(p, refs[i]!));
  const same = pairedBootstrap(sGood, sGood, "rougeL", { resamples: 200, seed: 3 });
  assert.equal(same.delta, 0);
  assert.equal(same.pValue, 1);
  for (const m of ["rouge1", "rougeL", "meteor", "bleu"] as const) {
    const r = pairedBootstrap(sBad, sGood, m, { resamples: 200, seed: 3 });
    assert.ok(r.delta > 0, m);
    assert.ok(r.pValue <= 1 / 201 + 1e-12, `${m}: p = ${r.pValue}`);
    assert.deepEqual(r, pairedBootstrap(sBad, sGood, m, { resamples: 200, seed: 3 }));
  }
});

test("all metrics on 20k-token texts and on Unicode text: defined values in range (time measured)", (t) => {
  const vocab = ["the", "mail", "server", "was", "down,", "again.", "We", "restarted", "it;", "thanks!", "(see", "log)"];
  const ref = words(20000, (i) => vocab[(i * 5) % vocab.length]!);
  const pred = words(20000, (i) => vocab[(i * 7 + 3) % vocab.length]!);
  const t0 = performance.now();
  const r = scoreAll([pred], [ref]);
  t.diagnostic(`ROUGE-1/L, BLEU, METEOR of one 20,000-token pair: ${(performance.now() - t0).toFixed(0)} ms`);
  for (const m of ["rouge1", "rougeL", "meteor"] as const) assert.ok(r[m] > 0 && r[m] <= 1, `${m} = ${r[m]}`);
  assert.ok(r.bleu > 0 && r.bleu <= 100);
  assert.equal(r.bleuDetail.sysLen, r.bleuDetail.refLen);
  const u = scoreAll(["Ünïcödé “quotes” — 東京 😀 café"], ["東京 café 😀 — “quotes”"]);
  for (const m of ["rouge1", "rougeL", "bleu", "meteor"] as const) assert.ok(Number.isFinite(u[m]) && u[m] >= 0, m);
  assert.ok(u.bleuDetail.counts[0]! > 0);
});

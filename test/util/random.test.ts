import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/util/random.ts";

test("xoshiro128** matches the reference algorithm from state [1, 2, 3, 4]", () => {
  // Expected values computed with an independent Python transcription of the reference C code.
  const r = Rng.fromState({ s: [1, 2, 3, 4], spare: null });
  assert.deepEqual(
    Array.from({ length: 6 }, () => r.nextU32()),
    [11520, 0, 5927040, 70819200, 2031721883, 1637235492],
  );
  assert.deepEqual(r.state(), { s: [1110993931, 286554632, 2431677446, 2165318166], spare: null });
});

test("same seed, same stream; different seeds, different streams", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const xa = Array.from({ length: 8 }, () => a.nextU32());
  assert.deepEqual(xa, Array.from({ length: 8 }, () => b.nextU32()));
  assert.notDeepEqual(xa, Array.from({ length: 8 }, () => c.nextU32()));
  assert.notDeepEqual(new Rng(0).state().s, new Rng(2 ** 40).state().s);
});

test("state survives a JSON round trip mid-stream, including the spare normal", () => {
  const r = new Rng(7);
  r.normal(); // leaves a spare
  const saved = JSON.parse(JSON.stringify(r.state()));
  assert.notEqual(saved.spare, null);
  const resumed = Rng.fromState(saved);
  const want = Array.from({ length: 5 }, () => r.normal());
  assert.deepEqual(Array.from({ length: 5 }, () => resumed.normal()), want);
  assert.throws(() => Rng.fromState({ s: [0, 0, 0, 0], spare: null }), /invalid random generator state/);
});

test("fillNormal gives the same values as repeated normal()", () => {
  for (const n of [0, 1, 2, 7]) {
    const a = new Rng(3);
    a.normal(); // odd position: fill starts with the spare
    const b = a.clone();
    const out = new Float64Array(n);
    a.fillNormal(out, 2, 1);
    assert.deepEqual(Array.from(out), Array.from({ length: n }, () => 1 + 2 * b.normal()));
    assert.deepEqual(a.state(), b.state());
  }
});

test("distributions: float in [0,1) with mean 1/2, normal with mean 0 and sd 1, int unbiased", () => {
  const r = new Rng(123);
  const n = 200000;
  let s = 0;
  let s2 = 0;
  let fmin = 1;
  let fsum = 0;
  const counts = new Array(6).fill(0);
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
    const f = r.float();
    fmin = Math.min(fmin, f);
    assert.ok(f >= 0 && f < 1);
    fsum += f;
    counts[r.int(6)]++;
  }
  assert.ok(Math.abs(s / n) < 0.01, `normal mean ${s / n}`);
  assert.ok(Math.abs(Math.sqrt(s2 / n) - 1) < 0.01, `normal sd ${Math.sqrt(s2 / n)}`);
  assert.ok(Math.abs(fsum / n - 0.5) < 0.005);
  for (const c of counts) assert.ok(Math.abs(c / n - 1 / 6) < 0.005, `int(6) counts ${counts}`);
});

test("shuffle is a seeded permutation", () => {
  const a = new Rng(5).shuffle([...Array(20).keys()]);
  const b = new Rng(5).shuffle([...Array(20).keys()]);
  assert.deepEqual(a, b);
  assert.deepEqual([...a].sort((x, y) => x - y), [...Array(20).keys()]);
  assert.notDeepEqual(a, [...Array(20).keys()]);
});

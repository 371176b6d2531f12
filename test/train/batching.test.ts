import { test } from "node:test";
import assert from "node:assert/strict";
import { exampleLength, fitExamples, makeBatch, planEpoch, planFixed } from "../../src/train/batching.ts";
import { Rng } from "../../src/util/random.ts";
import { randomExamples } from "./helpers.ts";

test("batching: the token budget is never exceeded and each example is used exactly once per epoch", () => {
  const examples = randomExamples(300, 50, 7, 40, 60);
  const lengths = examples.map(exampleLength);
  const rng = new Rng(5);
  for (const budget of [100, 257, 1000]) {
    for (let epoch = 0; epoch < 3; epoch++) {
      const plan = planEpoch(lengths, budget, rng);
      const seen = plan.flat().sort((a, b) => a - b);
      assert.deepEqual(seen, lengths.map((_, i) => i));
      for (const b of plan) {
        const longest = Math.max(...b.map((i) => lengths[i]!));
        assert.ok(b.length * longest <= budget, `batch of ${b.length} x ${longest} over ${budget}`);
      }
      const batch = makeBatch(examples, plan[0]!);
      assert.ok(batch.rows * batch.seq <= budget);
    }
  }
});

test("batching: same seed gives the same plans; epochs are shuffled differently", () => {
  const lengths = randomExamples(80, 50, 3, 10, 10).map(exampleLength);
  const a = new Rng(9);
  const b = new Rng(9);
  const p1 = planEpoch(lengths, 64, a);
  const p2 = planEpoch(lengths, 64, a);
  assert.deepEqual(planEpoch(lengths, 64, b), p1);
  assert.deepEqual(planEpoch(lengths, 64, b), p2);
  assert.notDeepEqual(p1, p2);
  // Batches are runs of the length-sorted order: they do not overlap in length.
  const ranges = p1.map((bt) => [Math.min(...bt.map((i) => lengths[i]!)), Math.max(...bt.map((i) => lengths[i]!))] as const)
    .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i - 1]![1] <= ranges[i]![0], `batches overlap: ${ranges[i - 1]} ${ranges[i]}`);
  assert.equal(planFixed(lengths, 64).length, p1.length);
});

test("batching: ids right-padded, labels on target tokens only, thought mask zero on padding", () => {
  const examples = [
    { promptIds: [5, 6, 7], targetIds: [8, 9] },
    { promptIds: [1, 2], targetIds: [3] },
  ];
  const b = makeBatch(examples, [0, 1], { padId: 0, enhance: "output" });
  assert.equal(b.rows, 2);
  assert.equal(b.seq, 5);
  assert.deepEqual([...b.ids].map(Number), [5, 6, 7, 8, 9, 1, 2, 3, 0, 0]);
  assert.deepEqual([...b.labels].map(Number), [-100, -100, 8, 9, -100, -100, 3, -100, -100, -100]);
  assert.deepEqual([...b.thoughtMask!], [0, 0, 0, 1, 1, 0, 0, 1, 0, 0]);
  assert.equal(b.tokens, 8);
  assert.equal(b.scored, 3);
  const g = makeBatch(examples, [1, 0], { enhance: "global" });
  assert.deepEqual([...g.thoughtMask!], [0, 1, 1, 0, 0, 0, 1, 1, 1, 1]);
  assert.equal(makeBatch(examples, [0]).thoughtMask, undefined);
});

test("batching: fitExamples cuts targets to the length limit and drops what cannot fit", () => {
  const { examples, report } = fitExamples(
    [
      { id: "a", promptIds: [1, 2], targetIds: [3, 4, 5, 6] },
      { id: "b", promptIds: [1, 2, 3, 4, 5], targetIds: [6] },
      { id: "c", promptIds: [1], targetIds: [2] },
      { id: "d", promptIds: [], targetIds: [2] },
    ],
    5,
  );
  assert.deepEqual(examples, [
    { id: "a", promptIds: [1, 2], targetIds: [3, 4, 5] },
    { id: "c", promptIds: [1], targetIds: [2] },
  ]);
  assert.deepEqual(report, { kept: 1, truncated: 1, dropped: 2, droppedIds: ["b", "d"] });
});

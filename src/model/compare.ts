// Comparing two computations of the same rows (e.g. logits of a training graph and of decoding).

/** Max |a - b| over rows of equal lengths. */
export function maxAbsDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: ${a.length} vs ${b.length} positions`);
  let m = 0;
  a.forEach((row, i) => {
    const other = b[i]!;
    for (let j = 0; j < row.length; j++) m = Math.max(m, Math.abs(row[j]! - other[j]!));
  });
  return m;
}

// The paper's "Impr." column (Table 12): the average relative improvement of a method over a reference method,
// 100 * mean over the metrics present of (m_method - m_ref) / m_ref, on corpus-level scores. The relative change is
// scale-free, so BLEU's 0..100 scale and the 0..1 scales mix freely. A metric the reference scores 0 on (or that
// either lacks) is left out of the mean and listed.

export interface Improvement {
  /** Percent; null when no metric could be compared. */
  value: number | null;
  /** The metrics the mean is over. */
  metrics: string[];
}

/** Average relative improvement (percent) of `method` over `reference` over `metrics`. */
export function averageRelativeImprovement(
  method: Readonly<Record<string, number | null | undefined>>,
  reference: Readonly<Record<string, number | null | undefined>>,
  metrics: readonly string[],
): Improvement {
  const used: string[] = [];
  let sum = 0;
  for (const m of metrics) {
    const a = method[m];
    const b = reference[m];
    if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) continue;
    sum += (a - b) / b;
    used.push(m);
  }
  return { value: used.length > 0 ? (100 * sum) / used.length : null, metrics: used };
}

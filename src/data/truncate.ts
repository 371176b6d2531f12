// Token-budget truncation at sentence boundaries. The result is always a prefix of the text that ends at a
// sentence end (or, when even the first sentence is over budget, at a word end), never inside a word.

/** Anything that turns text into token ids; only the count matters here. */
export interface TokenCounter {
  encode(text: string): number[];
}

/** Character offsets where a sentence ends: after . ! ? … (plus closing quotes/brackets) before whitespace, and at
 * line breaks. Offsets point just past the sentence's last character; the text's end is always included. */
export function sentenceEnds(text: string): number[] {
  const ends = new Set<number>();
  const re = /[.!?…]+["'”’)\]]*(?=\s)|(?<=\S)[ \t]*(?=\n)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const end = m[0].trim() === "" ? m.index : m.index + m[0].length;
    if (end > 0) ends.add(end);
    if (m[0].length === 0) re.lastIndex++;
  }
  const trimmedEnd = text.trimEnd().length;
  if (trimmedEnd > 0) ends.add(trimmedEnd);
  return [...ends].filter((e) => e <= trimmedEnd).sort((a, b) => a - b);
}

/** Character offsets where a word ends (before whitespace, or the text's end). */
export function wordEnds(text: string): number[] {
  const ends: number[] = [];
  const re = /\S+/g;
  for (let m = re.exec(text); m; m = re.exec(text)) ends.push(m.index + m[0].length);
  return ends;
}

export interface Truncated {
  text: string;
  truncated: boolean;
  tokens: number;
}

/** An index i in `cuts` with fits(cuts[i]) found by binary search (prefix token counts grow with length), the
 * largest one when they grow strictly; -1 when none fits. The returned cut was checked, so it always fits. */
function lastFitting(cuts: readonly number[], fits: (cut: number) => boolean): number {
  let lo = 0;
  let hi = cuts.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (fits(cuts[mid]!)) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/**
 * Cuts `text` to at most `maxTokens` tokens: the longest run of whole sentences that fits; when not even the first
 * sentence fits, the longest run of whole words; when not even one word fits, "". Trailing whitespace goes.
 */
export function truncateToTokens(text: string, maxTokens: number, counter: TokenCounter): Truncated {
  const count = (s: string): number => (s === "" ? 0 : counter.encode(s).length);
  const whole = text.trimEnd();
  const n = count(whole);
  if (n <= maxTokens) return { text: whole, truncated: false, tokens: n };
  if (maxTokens <= 0) return { text: "", truncated: true, tokens: 0 };
  const cache = new Map<number, number>();
  const fits = (cut: number): boolean => {
    let c = cache.get(cut);
    if (c === undefined) {
      c = count(whole.slice(0, cut).trimEnd());
      cache.set(cut, c);
    }
    return c <= maxTokens;
  };
  const sentences = sentenceEnds(whole).filter((e) => e < whole.length);
  let i = lastFitting(sentences, fits);
  if (i >= 0) {
    const out = whole.slice(0, sentences[i]).trimEnd();
    return { text: out, truncated: true, tokens: count(out) };
  }
  const words = wordEnds(whole).filter((e) => e < whole.length);
  i = lastFitting(words, fits);
  if (i >= 0) {
    const out = whole.slice(0, words[i]).trimEnd();
    return { text: out, truncated: true, tokens: count(out) };
  }
  return { text: "", truncated: true, tokens: 0 };
}

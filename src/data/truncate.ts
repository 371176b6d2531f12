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

/** Characters of the longest token of any tokenizer in use (Qwen's longest is a run of 128 spaces). */
const MAX_TOKEN_CHARS = 128;
/** Characters per budget token looked at before a long piece is encoded whole. */
const PROBE_CHARS_PER_TOKEN = 16;

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
 *
 * Cost: the token counts of the sentences are summed to estimate each prefix's count (every sentence is encoded once,
 * up to the budget); the estimated best cut is then checked exactly and moved up or down until it is the last cut
 * that fits. Every returned cut was counted exactly, so the budget always holds. No more than a few multiples of
 * 16 x maxTokens characters are ever encoded, whatever the length of the text (a 5 MB record costs what a short one
 * does); a text whose tokens average more than 16 characters over a long stretch may be cut shorter than it could be.
 */
export function truncateToTokens(text: string, maxTokens: number, counter: TokenCounter): Truncated {
  const count = (s: string): number => (s === "" ? 0 : counter.encode(s).length);
  const whole = text.trimEnd();
  if (whole === "") return { text: "", truncated: false, tokens: 0 };
  if (maxTokens <= 0) return { text: "", truncated: true, tokens: 0 };
  const exact = new Map<number, number>();
  const countTo = (cut: number): number => {
    let c = exact.get(cut);
    if (c === undefined) {
      c = count(whole.slice(0, cut).trimEnd());
      exact.set(cut, c);
    }
    return c;
  };
  // Work bounded by the budget, not by the text: no token is longer than MAX_TOKEN_CHARS characters, so a piece longer
  // than maxTokens * MAX_TOKEN_CHARS cannot fit; a long piece is first judged by its first `probe` characters (a
  // prefix has about as many tokens as the start of the piece), and only encoded whole when that prefix fits.
  const probe = PROBE_CHARS_PER_TOKEN * maxTokens + 64;
  const probed = new Map<number, boolean>();
  const tooLong = (start: number, end: number): boolean => {
    if (end - start > MAX_TOKEN_CHARS * maxTokens) return true;
    if (end - start <= probe) return false;
    let over = probed.get(start);
    if (over === undefined) {
      over = count(whole.slice(start, start + probe)) > maxTokens;
      probed.set(start, over);
    }
    return over;
  };
  const fits = (cut: number): boolean => !tooLong(0, cut) && countTo(cut) <= maxTokens;
  const done = (cut: number): Truncated => ({ text: whole.slice(0, cut).trimEnd(), truncated: cut < whole.length, tokens: countTo(cut) });

  // a text that is not much longer than the budget in characters is often within it: one exact count settles that
  if (whole.length <= 6 * maxTokens && fits(whole.length)) return done(whole.length);
  const ends = sentenceEnds(whole); // the last one is whole.length
  let sum = 0;
  let prev = 0;
  let guess = -1;
  let next = Infinity; // estimated tokens up to the end after the guess
  for (let i = 0; i < ends.length; i++) {
    sum += tooLong(prev, ends[i]!) ? Infinity : count(whole.slice(prev, ends[i]));
    prev = ends[i]!;
    if (sum > maxTokens) {
      next = sum;
      break;
    }
    guess = i;
  }
  if (guess >= 0 && fits(ends[guess]!)) {
    // move up only while the estimate says the next end may fit (estimates are off by a few tokens at most)
    const slack = 4 + Math.ceil(maxTokens / 100);
    while (guess + 1 < ends.length && next <= maxTokens + slack && fits(ends[guess + 1]!)) {
      guess++;
      next = Infinity;
    }
    return done(ends[guess]!);
  }
  for (let i = guess - 1; i >= 0; i--) if (fits(ends[i]!)) return done(ends[i]!);
  // not even the first sentence fits: whole words of it
  const firstEnd = ends[0]!;
  const words = wordEnds(whole.slice(0, firstEnd)).filter((e) => e < firstEnd);
  const i = lastFitting(words, fits);
  return i >= 0 ? done(words[i]!) : { text: "", truncated: true, tokens: 0 };
}

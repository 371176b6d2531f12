// CoT's reasoning paths without a teacher LLM: an extractive "style summary" of the history items the prompt shows,
// selected with the expected output (so the steps say what in the shown history bears on the answer, and no word of
// the answer that the history lacks can leak into them). One step per aspect, each optional:
//
//   words     top WORDS content words in both the shown history and y, ranked tf_history(w) * idf(w)
//   phrases   top PHRASES bigrams in both, ranked by their count in the history (ties: first seen)
//   length    "about N sentences of M words": mean sentences per shown item, mean words per sentence
//   markers   style markers present in both: first/second person, exclamations, questions, lists, tone words
//   opening   the first OPENING_WORDS words of the shown item most similar (BM25) to y
//
// The result is a function of the shown items, y and the idf table alone (no randomness).
import { Bm25, retrievalTokens, sentenceEnds } from "../data/index.ts";
import type { ProfileItem } from "../data/record.ts";
import { type IdfTable, itemText } from "./summary.ts";

export const WORDS = 8;
export const PHRASES = 3;
export const OPENING_WORDS = 5;

/** The fixed wording of the steps (everything in a step that is not drawn from the history). */
export const STEP_WORDING = {
  words: "The user often uses words such as:",
  phrases: "Recurring phrases:",
  length: (sentences: string, words: string) => `Typically writes about ${sentences} sentences of ${words} words each.`,
  markers: "Style markers:",
  opening: "Opens like:",
} as const;

/** The style markers, each a test on a text and the words that name it in a step. */
const MARKERS: readonly { name: string; test: (text: string, words: readonly string[]) => boolean }[] = [
  { name: "writes in the first person", test: (_t, w) => w.some((x) => FIRST_PERSON.has(x)) },
  { name: "addresses the reader directly", test: (_t, w) => w.some((x) => SECOND_PERSON.has(x)) },
  { name: "uses exclamations", test: (t) => t.includes("!") },
  { name: "asks questions", test: (t) => t.includes("?") },
  { name: "writes lists", test: (t) => /^\s*(?:[-*•]|\d+[.)])\s+/m.test(t) },
];
/** Rating and tone words a style marker may name (when both the shown history and y use them). */
const TONE_WORDS = new Set(["great", "good", "love", "loved", "amazing", "excellent", "perfect", "wonderful", "nice", "best", "recommend", "happy", "bad", "poor", "terrible", "awful", "worst", "disappointed", "disappointing"]);
const TONE_WORDING = "tone words";
const FIRST_PERSON = new Set(["i", "me", "my", "mine", "myself", "we", "us", "our", "ours"]);
const SECOND_PERSON = new Set(["you", "your", "yours", "yourself"]);

/** Every word the fixed wording can put in a step (lower case, as retrievalTokens gives them, stop words kept). */
export function wordingWords(): Set<string> {
  const texts = [STEP_WORDING.words, STEP_WORDING.phrases, STEP_WORDING.length("", ""), STEP_WORDING.markers, STEP_WORDING.opening, TONE_WORDING, ...MARKERS.map((m) => m.name)];
  return new Set(texts.flatMap((t) => retrievalTokens(t, { stopWords: false })));
}

/** Content words: stop words dropped, at least one letter. */
function contentWords(text: string): string[] {
  return retrievalTokens(text).filter((w) => /\p{L}/u.test(w));
}

function bigrams(text: string): string[] {
  const t = retrievalTokens(text, { stopWords: false });
  const out: string[] = [];
  // a phrase carries at least one content word
  for (let i = 0; i + 1 < t.length; i++) if (/\p{L}/u.test(t[i]! + t[i + 1]!) && (contentWords(t[i]!).length > 0 || contentWords(t[i + 1]!).length > 0)) out.push(`${t[i]} ${t[i + 1]}`);
  return out;
}

function counts(xs: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

function round1(x: number): string {
  return String(Math.round(x * 10) / 10);
}

/**
 * The reasoning steps for one example: built from `shown` (the history items its prompt shows, in prompt order) and
 * the expected output `y`, with `idf` over the training users' history texts. Empty when nothing is shown.
 */
export function rationaleSteps(shown: readonly ProfileItem[], y: string, idf: IdfTable): string[] {
  const texts = shown.map(itemText).filter((t) => t.trim() !== "");
  if (texts.length === 0) return [];
  const history = texts.join("\n");
  const steps: string[] = [];

  const tf = counts(contentWords(history));
  const inY = new Set(contentWords(y));
  const order = new Map<string, number>();
  for (const w of contentWords(history)) if (!order.has(w)) order.set(w, order.size);
  const words = [...tf.keys()]
    .filter((w) => inY.has(w))
    .map((w) => ({ w, score: tf.get(w)! * idf.idf(w) }))
    .sort((a, b) => b.score - a.score || order.get(a.w)! - order.get(b.w)!)
    .slice(0, WORDS)
    .map((x) => x.w);
  if (words.length > 0) steps.push(`${STEP_WORDING.words} ${words.join(", ")}.`);

  const historyBigrams = texts.flatMap(bigrams);
  const bf = counts(historyBigrams);
  const yBigrams = new Set(bigrams(y));
  const phrases = [...bf.keys()]
    .filter((b) => yBigrams.has(b))
    .sort((a, b) => bf.get(b)! - bf.get(a)! || historyBigrams.indexOf(a) - historyBigrams.indexOf(b))
    .slice(0, PHRASES);
  if (phrases.length > 0) steps.push(`${STEP_WORDING.phrases} ${phrases.map((p) => `"${p}"`).join(", ")}.`);

  const sentences = texts.map((t) => sentenceEnds(t).length);
  const totalSentences = sentences.reduce((a, b) => a + b, 0);
  const totalWords = texts.reduce((a, t) => a + t.trim().split(/\s+/).length, 0);
  steps.push(STEP_WORDING.length(round1(totalSentences / texts.length), round1(totalWords / Math.max(1, totalSentences))));

  const yWords = retrievalTokens(y, { stopWords: false });
  const hWords = retrievalTokens(history, { stopWords: false });
  const markers = MARKERS.filter((m) => m.test(history, hWords) && m.test(y, yWords)).map((m) => m.name);
  const yTone = new Set(yWords.filter((w) => TONE_WORDS.has(w)));
  const tone = [...new Set(hWords.filter((w) => yTone.has(w)))];
  if (tone.length > 0) markers.push(`${TONE_WORDING} ${tone.join(", ")}`);
  if (markers.length > 0) steps.push(`${STEP_WORDING.markers} ${markers.join(", ")}.`);

  const bm25 = new Bm25(texts.map((t) => retrievalTokens(t)));
  const best = bm25.topN(retrievalTokens(y), 1)[0] ?? 0;
  const opening = texts[best]!.trim().split(/\s+/).slice(0, OPENING_WORDS).join(" ");
  steps.push(`${STEP_WORDING.opening} "${opening}"`);
  return steps;
}

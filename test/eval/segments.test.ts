// Position segments in model tokens (decoded back to text) and against the full reference.
import { test } from "node:test";
import assert from "node:assert/strict";
import { scoreSample, scoreSegments, tokenSegmenter, WORD_SEGMENTER } from "../../src/eval/score.ts";
import { evaluateRuns } from "../../src/eval/report.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { fixtureDir } from "../model/encoder/fixtures.ts";

const tok = TextTokenizer.fromDir(fixtureDir("roberta"));
const pred = "The chef was found at his home this morning and the food was good";
const ref = "A chef who recently moved was found dead at home and the cook was great";
const segs = [{ start: 0, end: 8 }, { start: 8, end: 16 }, { start: 16, end: null }];

test("model-token segments: spans of the tokenizer's ids, decoded, scored against the same range", () => {
  const unit = tokenSegmenter(tok);
  const p = tok.encode(pred, { addSpecialTokens: false });
  const r = tok.encode(ref, { addSpecialTokens: false });
  assert.ok(p.length > 16 && r.length > 16, "both texts reach the last segment");
  const out = scoreSegments([pred], [ref], segs, {}, { unit });
  segs.forEach((s, k) => {
    const want = scoreSample(tok.decode(p.slice(s.start, s.end ?? undefined)), tok.decode(r.slice(s.start, s.end ?? undefined)));
    assert.deepEqual(out[k]!.samples[0], want, `segment ${k}`);
  });
  // Words and model tokens cut differently.
  const words = scoreSegments([pred], [ref], segs);
  assert.notDeepEqual(words[1]!.samples[0], out[1]!.samples[0]);
});

test("--segment-ref full: each prediction segment against the whole reference; the report names unit and reference", () => {
  const out = scoreSegments([pred], [ref], segs, {}, { unit: WORD_SEGMENTER, ref: "full" });
  const words = pred.split(" ");
  assert.deepEqual(out[0]!.samples[0], scoreSample(words.slice(0, 8).join(" "), ref));
  assert.deepEqual(out[1]!.samples[0], scoreSample(words.slice(8, 16).join(" "), ref));
  const records = [{ id: "a", user: "u", prediction: pred, reference: ref, line: 1 }];
  const r = evaluateRuns([{ name: "M", records }], { segmentation: { unit: tokenSegmenter(tok), ref: "full" }, bootstrap: { resamples: 10 } });
  assert.equal(r.settings.segmentRef, "full");
  assert.match(r.settings.segmentUnit, /^tokens of the tokenizer .*tokenizer.json$/);
});

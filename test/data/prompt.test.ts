import { test } from "node:test";
import assert from "node:assert/strict";
import {
  buildEmailDataset,
  buildPrompt,
  type PersonalRecord,
  selectHistory,
  sentenceEnds,
  TASK_TEMPLATES,
  truncateToTokens,
} from "../../src/data/index.ts";
import { UserError } from "../../src/util/errors.ts";
import { qwen } from "./qwen-tokenizer.ts";

const { counter, chat } = qwen();
const ntok = (s: string): number => (s === "" ? 0 : counter.encode(s).length);

/** `cut` is a prefix of `text` that ends where a word ends (end of text, or whitespace follows). */
function assertWordBoundaryPrefix(text: string, cut: string, what: string): void {
  assert.ok(text.startsWith(cut), `${what}: not a prefix`);
  if (cut.length > 0 && cut.length < text.length) {
    assert.match(text[cut.length]!, /\s/, `${what}: cut inside a word at ${JSON.stringify(text.slice(cut.length - 10, cut.length + 10))}`);
  }
}

test("truncate: keeps whole sentences within the budget", () => {
  const text = "The first sentence is short. The second one is a little longer than the first. A third!";
  assert.deepEqual(sentenceEnds(text), [28, 78, text.length]);
  const full = ntok(text);
  const same = truncateToTokens(text, full, counter);
  assert.equal(same.text, text);
  assert.equal(same.truncated, false);
  const two = truncateToTokens(text, full - 1, counter);
  assert.equal(two.text, "The first sentence is short. The second one is a little longer than the first.");
  assert.equal(two.truncated, true);
  assert.equal(two.tokens, ntok(two.text));
  const one = truncateToTokens(text, ntok("The first sentence is short.") + 2, counter);
  assert.equal(one.text, "The first sentence is short.");
});

test("truncate: a first sentence over budget is cut at a word end, never inside a word", () => {
  const text = "Supercalifragilisticexpialidocious words keep flowing without any full stop for quite a while here";
  const r = truncateToTokens(text, 12, counter);
  assert.ok(r.tokens <= 12 && r.tokens > 0);
  assertWordBoundaryPrefix(text, r.text, "word fallback");
  assert.equal(r.text.split(" ").length < text.split(" ").length, true);
  assert.equal(truncateToTokens(text, 0, counter).text, "");
  assert.equal(truncateToTokens("Supercalifragilisticexpialidocious", 1, counter).text, "");
});

const email = buildEmailDataset({ seed: 0 });
const sample = [...email.splits.test.slice(0, 30), ...email.splits.train.filter((_, i) => i % 60 === 0)];

test("truncate: for every budget the cut fits, is a prefix and ends at a word end (real mails, Qwen tokens)", () => {
  const texts = sample.slice(0, 12).map((r) => r.output);
  for (const text of texts) {
    const n = ntok(text);
    for (const budget of [1, 3, 7, 15, 31, 63, 127, 255, n - 1, n]) {
      if (budget < 0) continue;
      const r = truncateToTokens(text, budget, counter);
      assert.ok(ntok(r.text) <= budget, `budget ${budget}: ${ntok(r.text)} tokens`);
      assert.equal(r.tokens, ntok(r.text));
      assertWordBoundaryPrefix(text, r.text, `budget ${budget}`);
    }
  }
});

test("prompt: budgets hold on real mail records with the Qwen tokenizer (default and tight budgets, both retrievals)", () => {
  const settings = [
    { budgets: {}, historyK: 2 },
    { budgets: { profile: 120, input: 25, target: 60 }, historyK: 2 },
    { budgets: { profile: 300, input: 40, target: 200 }, historyK: 4 },
  ];
  let truncatedItems = 0;
  for (const s of settings) {
    const b = { profile: 1250, input: 300, target: 1000, ...s.budgets };
    for (const retrieval of ["recent", "bm25"] as const) {
      for (const rec of sample) {
        const p = buildPrompt(rec, { counter, budgets: s.budgets, historyK: s.historyK, retrieval });
        assert.ok(ntok(p.parts.history) <= b.profile, `${rec.id}: history ${ntok(p.parts.history)} > ${b.profile}`);
        assert.ok(ntok(p.parts.input) <= b.input, `${rec.id}: input over budget`);
        assert.ok(ntok(p.target) <= b.target, `${rec.id}: target over budget`);
        assert.equal(p.tokens.history, ntok(p.parts.history));
        assertWordBoundaryPrefix(rec.input, p.parts.input, `${rec.id} input`);
        assertWordBoundaryPrefix(rec.output, p.target, `${rec.id} target`);
        assert.equal(p.usedHistory.length, p.parts.items.length);
        assert.ok(p.usedHistory.length <= s.historyK);
        // each history item: the quoted mail text is a word-boundary prefix of that mail
        p.usedHistory.forEach((idx, j) => {
          const m = /^"([\s\S]*)" is the subject of the email "([\s\S]*)"$/.exec(p.parts.items[j]!);
          assert.ok(m, `item shape: ${p.parts.items[j]!.slice(0, 80)}`);
          const item = rec.profile[idx]!;
          assertWordBoundaryPrefix(item.output, m[2]!, `${rec.id} item ${idx}`);
          if (m[2]!.length < item.output.length) truncatedItems++;
        });
        if (p.usedHistory.length > 0) assert.ok(p.message.startsWith(p.parts.history + ". Following the given patterns, "));
      }
    }
  }
  assert.ok(truncatedItems > 0, "tight budgets should have cut some history items");
});

test("prompt: the same record always gives the same prompt", () => {
  for (const rec of sample.slice(0, 10)) {
    const a = buildPrompt(rec, { counter, chat });
    const b = buildPrompt(structuredClone(rec), { counter, chat });
    assert.deepEqual(a, b);
  }
});

const review: PersonalRecord = {
  id: "r1",
  task: "product_review",
  user: "U1",
  input: 'Generate the review text for a product with description "A kettle".',
  output: "It boils water fast. The lid is flimsy.",
  profile: [
    { input: "q0", output: "Great blender, crushes ice.", overall: 5, summary: "Love it", description: "A blender", reviewText: "Great blender, crushes ice." },
    { input: "q1", output: "The kettle whistles loudly.", overall: 3.5, summary: "Loud kettle", description: "A steel kettle", reviewText: "The kettle whistles loudly." },
    { input: "q2", output: "Socks wore out.", overall: 2, summary: "Thin", description: "Wool socks", reviewText: "Socks wore out." },
  ],
};

test("prompt: LongLaMP review template (benchmark phrasing), recent vs bm25 choice, plain vs chat wrapping", () => {
  const recent = buildPrompt(review, { counter, retrieval: "recent" });
  assert.deepEqual(recent.usedHistory, [2, 1]);
  assert.deepEqual(recent.usedHistoryIds, ["#2", "#1"]);
  assert.equal(
    recent.message,
    '"2.0" is a rating for the product with description "Wool socks". "Thin" is summary for "Socks wore out.", and ' +
      '"3.5" is a rating for the product with description "A steel kettle". "Loud kettle" is summary for "The kettle whistles loudly.". ' +
      'Following the given patterns Generate the review text for a product with description "A kettle".',
  );
  assert.equal(recent.prompt, recent.message);
  const bm = buildPrompt(review, { counter, retrieval: "bm25", historyK: 1 });
  assert.deepEqual(bm.usedHistory, [1]); // the kettle review matches the query
  const chatted = buildPrompt(review, { counter, chat, historyK: 1 });
  assert.equal(chatted.prompt, `<|im_start|>user\n${chatted.message}<|im_end|>\n<|im_start|>assistant\n`);
});

test("prompt: empty profile and k = 0 give the query alone; tiny budgets drop history; unknown task is an error", () => {
  const none = buildPrompt({ ...review, profile: [] }, { counter });
  assert.equal(none.message, review.input);
  assert.deepEqual(none.usedHistory, []);
  const k0 = buildPrompt(review, { counter, historyK: 0 });
  assert.equal(k0.message, review.input);
  const tiny = buildPrompt(review, { counter, budgets: { profile: 5 } });
  assert.deepEqual(tiny.usedHistory, []);
  assert.equal(tiny.truncated.history, true);
  assert.throws(() => buildPrompt({ ...review, task: "poetry" }, { counter }), (e: unknown) => e instanceof UserError && /no prompt template for task "poetry"/.test(e.message));
  assert.throws(() => buildPrompt(review, { counter, historyK: -1 }), UserError);
  const noField = { ...review, profile: [{ input: "x", output: "y" }] };
  assert.throws(() => buildPrompt(noField, { counter }), (e: unknown) => e instanceof UserError && /missing field "overall"/.test(e.message));
});

test("prompt: templates are data covering the three LongLaMP tasks, email and the prebuilt history of the published dataset JSON", () => {
  assert.deepEqual(Object.keys(TASK_TEMPLATES).sort(), ["abstract_generation", "email", "prebuilt_history", "product_review", "topic_writing"]);
  const abs: PersonalRecord = {
    id: "a1",
    task: "abstract_generation",
    user: "Ann",
    input: "Generate an abstract for the title \"Fast BM25\".",
    output: "We show...",
    profile: [{ id: "p9", input: "Old", output: "x", title: "Old paper", abstract: Array.from({ length: 800 }, (_, i) => `w${i}`).join(" ") }],
  };
  const p = buildPrompt(abs, { counter, budgets: { profile: 5000 } });
  assert.deepEqual(p.usedHistoryIds, ["p9"]);
  const quoted = /^"([^"]*)" is the abstract for the title "Old paper"\. Use the above abstracts as context to understand the style and language of the user and, Generate/.exec(p.message);
  assert.ok(quoted);
  assert.equal(quoted[1]!.split(" ").length, 750); // the benchmark keeps the first 750 words
  const topic: PersonalRecord = {
    id: "t1",
    task: "topic_writing",
    user: "bob",
    input: "Generate the content for a reddit post \"cats\".",
    output: "Cats are...",
    profile: [{ input: "dogs", output: "Dogs bark.", summary: "dogs", content: "Dogs bark." }],
  };
  assert.equal(
    buildPrompt(topic, { counter }).message,
    '"dogs" is a summary for "Dogs bark.". Following the given patterns, Generate the content for a reddit post "cats".',
  );
  assert.deepEqual(selectHistory(topic, 5, "recent", TASK_TEMPLATES.topic_writing!), [0]);
});

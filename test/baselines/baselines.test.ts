import { test } from "node:test";
import assert from "node:assert/strict";
import { BASELINE_KINDS, baselinePrompt, parseBaselineKind } from "../../src/baselines/index.ts";
import { buildPrompt, type PersonalRecord } from "../../src/data/index.ts";
import { UserError } from "../../src/util/errors.ts";
import { qwen } from "../data/qwen-tokenizer.ts";

const { counter, chat } = qwen();

const record: PersonalRecord = {
  id: "email/x/1",
  task: "email",
  user: "kre@example.org",
  input: 'Write an email with the subject "Re: sequence window crash".',
  output: "The crash comes from the sequence cache. I will send a patch.",
  profile: [
    { id: "m1", input: "q", output: "Lunch on Friday works for me.", subject: "lunch" },
    { id: "m2", input: "q", output: "The sequence window crashes when a folder has many unseen messages.", subject: "sequence window crash" },
    { id: "m3", input: "q", output: "Please review the release notes before Monday.", subject: "release notes" },
  ],
};

test("baselines: non-pers is the query alone; rag adds the top-k BM25 items; both use the chat template", () => {
  assert.deepEqual(BASELINE_KINDS, ["non-pers", "rag", "cos"]);
  const np = baselinePrompt(record, "non-pers", { counter, chat, historyK: 3 });
  assert.equal(np.message, record.input);
  assert.deepEqual(np.usedHistory, []);
  assert.equal(np.prompt, `<|im_start|>user\n${record.input}<|im_end|>\n<|im_start|>assistant\n`);
  const rag1 = baselinePrompt(record, "rag", { counter, historyK: 1, retrieval: "recent" });
  assert.deepEqual(rag1.usedHistoryIds, ["m2"]); // retrieval is always BM25 for rag
  assert.equal(
    rag1.message,
    '"sequence window crash" is the subject of the email "The sequence window crashes when a folder has many unseen messages.". ' +
      'Following the given patterns, Write an email with the subject "Re: sequence window crash".',
  );
  const rag = baselinePrompt(record, "rag", { counter });
  assert.equal(rag.usedHistory.length, 2); // default k = 2
  assert.equal(rag.usedHistory[0], 1);
  // rag equals the prompt builder with bm25 retrieval: same prompts as the trained methods
  assert.deepEqual(rag, buildPrompt(record, { counter, retrieval: "bm25", historyK: 2 }));
  // cos decodes RAG's prompt (and non-pers's beside it)
  assert.deepEqual(baselinePrompt(record, "cos", { counter, historyK: 1, retrieval: "recent" }), rag1);
  assert.equal(parseBaselineKind("rag"), "rag");
  assert.throws(() => parseBaselineKind("sft"), (e: unknown) => e instanceof UserError && /expected non-pers, rag or cos/.test(e.message));
});

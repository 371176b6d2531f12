// The demo on a microscopic configuration (tiny models, a few steps, three records), shared by the demo's end-to-end
// tests; `patch` is spread last.
import { type DemoOptions, quickOptions, shapeForWidth } from "../../src/demo/options.ts";

export function microDemoOptions(out: string, patch: Partial<DemoOptions> = {}): DemoOptions {
  const q = quickOptions();
  const pretrain = { epochs: 1, steps: 2, seqLen: 32, batchTokens: 128, lr: 1e-2, warmupRatio: 0, docTokens: 24 };
  return {
    ...q,
    out,
    records: 3,
    maxNewTokens: 3,
    vocabSize: 300,
    generator: shapeForWidth(32, 1),
    reasoner: shapeForWidth(16, 1),
    pretrain,
    reasonerPretrain: pretrain,
    finetune: { epochs: 1, steps: 2, lr: 1e-2, batchTokens: 512, warmupRatio: 0 },
    prompt: { historyK: 1, retrieval: "bm25", budgets: { profile: 24, input: 16, target: 16 } },
    threads: 1,
    ...patch,
  };
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { benchMarkdown } from "../../src/bench/report.ts";

test("bench report: every README figure comes from the results of the run", () => {
  const md = benchMarkdown(
    {
      engine: { sgemm_gflops: 281.04, sgemm_chain_gflops: 400, step_ms: 131.55, mfu: 0.95, mfu_vs_chain: 0.684, rss_mb_step50: 710.2, rss_mb_end: 703.8, peak_rss_mb: 800 },
      train: { sft_step_ms: 120.1, flythinker_step_ms: 150.2, ratio: 1.2506, ratio_of_medians: 1.2423, allowed_ratio: 1.3201, peak_rss_mb: 900 },
      decode: { prefill_tokens_per_s: 179.4, decode_ms_per_token: 86.53, bound_ms_per_token: 70.1, memory_gb_per_s: 28.2, peak_rss_mb: 2600 },
      "flythinker-decode": {
        sft_ms_per_token: 1.1, sequential_ms_per_token: 1.5, parallel_ms_per_token: 1.2, parallel_over_sft: 1.0909,
        sft_all_cores_ms_per_token: 0.9, parallel_over_sft_all_cores: 1.3333, cores: 2, peak_rss_mb: 300,
        generator_alone_ms: 1.05, interference: [{ load: "the Reasoner decoding", ratio: 1.181 }, { load: "arithmetic only", ratio: 0.99 }], sft_p50_ms: 1.02, parallel_p50_ms: 1.12, parallel_over_sft_p50: 1.098, parallel_generator_ms: 1.16, generator_slowdown_in_parallel: 1.1047, parallel_reasoner_wait_ms: 0.03,
      },
      "cos-decode": { threads: 2, rag_ms_per_token: 0.512, cos_ms_per_token: 0.6655, ratio: 1.3, peak_rss_mb: 400 },
      serve: { levels: [{ clients: 1, tokens_per_s: 65.7 }, { clients: 8, tokens_per_s: 234.5 }], ratio: 3.57, peak_rss_mb: 355 },
    },
    { date: "2026-11-26", machine: "2 vCPU" },
  );
  assert.match(md, /Measured 2026-11-26 on 2 vCPU/);
  assert.match(md, /\| reference training step .* \| 131\.6 ms \| ≤ 250 ms \|/);
  assert.match(md, /\| model-FLOPs utilisation of that step \(vs the kernel rate\) \| 68% \|/);
  assert.match(md, /\| FlyThinker \/ SFT step ratio \(median of per-step ratios; ratio of the medians\) \| 1\.25 \(1\.24\) \| ≤ 1\.32/);
  assert.match(md, /\| decode, median single token: SFT \/ FlyThinker parallel \| 1\.02 \/ 1\.12 ms = 1\.10× \|/);
  assert.match(md, /\| decode, the Generator's step while the other core runs: the Reasoner decoding \/ arithmetic only \| 1\.18× \/ 0\.99× \|/);
  assert.match(md, /\| 1\.05 \/ 1\.16 ms \(1\.10×\); then 0\.03 ms waiting for the Reasoner \|/);
  assert.match(md, /1\.20 ms\/token = 1\.09× SFT/);
  assert.match(md, /86\.5 ms\/token \(bound 70\.1 ms = weights \/ 28\.2 GB\/s\)/);
  assert.match(md, /281\.0 \/ 400\.0 GFLOP\/s/);
  assert.match(md, /\| decode, CoS \(2 tied rows\) \/ RAG \(1 row\), 2 threads, median ms\/token \| 0\.67 \/ 0\.51 ms = 1\.30× \| ≤ 1\.5× \|/);
  assert.match(md, /Peak RSS per bench process: engine 800 MB, train 900 MB, decode 2600 MB, flythinker-decode 300 MB, cos-decode 400 MB, serve 355 MB\./);
  assert.match(md, /\| serving a demo-size FlyThinker pair: aggregate tokens\/s with 1 \/ 8 concurrent streams \| 65\.7 \/ 234\.5 tokens\/s = 3\.57× \| ≥ 3× \|/);
});

// `bench engine`: the tensor-graph engine's speed on this machine.
//   sgemm_gflops  1024 x 1024 x 1024 float32 MatMul through a compiled graph, one product per run (median of
//                 20 runs spread between the training steps, so that both see the same machine load; includes
//                 feeding 8 MB and fetching 4 MB per run, as a training step's feeds and fetches do)
//   sgemm_chain_gflops  8 chained 1024^3 products in one run: the kernel rate without per-run transfers
//   step_ms       one full training step (forward + backward + clipping + AdamW, ONE session run) of the reference
//                 model (presetConfig("reference"), batch 4 x seq 256, next-token labels; docs/conventions.md,
//                 Performance yardsticks)
//   mfu           model FLOPs per step / step time / sgemm_gflops (mfu_vs_chain: / sgemm_chain_gflops), where
//                   model FLOPs = 6 * N * tokens + 12 * layers * batch * seq^2 * heads * headDim
//                 N counts the parameters that take part in matrix products (all but the input embedding table,
//                 a lookup, unless it is tied to the output head); the attention term is QK^T and PV over the
//                 full (masked) seq x seq score matrix, 2 products x 2 FLOPs per multiply-add, x3 for the
//                 forward and backward passes, as the engine computes the whole matrix.
//   rss           resident memory after step 50 and after the last step (after a full GC each time)
import { Graph, ops } from "../graph/index.ts";
import { compile, defaultThreads, type CompiledGraph } from "../runtime/session.ts";
import { TrainStep } from "../runtime/train-step.ts";
import { presetConfig, type ModelConfig } from "../model/config.ts";
import { headOf, paramLeaves } from "../model/params.ts";
import { declareParams, embedTokens, forwardHidden } from "../model/qwen2.ts";
import { initWeights } from "../model/init.ts";
import { Rng } from "../util/random.ts";
import { median, rssMb, round, timeRuns } from "./stats.ts";

export interface EngineBenchOptions {
  /** Intra-op threads (default: all cores). */
  threads?: number;
  /** Training steps to run (>= 7: 2 warm-up + >= 5 timed); RSS is read after step 50 and after the last. */
  steps?: number;
  /** Timed sgemm runs of each kind (default 20), spread evenly between the training steps. */
  sgemmRuns?: number;
  batch?: number;
  seq?: number;
  /** Model preset (default "reference", the reference training step of docs/conventions.md). */
  preset?: string;
  /** Matrix size of the sgemm probe (default 1024). */
  sgemmSize?: number;
  /** Progress lines (to stderr in the CLI). */
  log?: (line: string) => void;
}

export interface EngineBenchResult {
  threads: number;
  sgemm_size: number;
  sgemm_gflops: number;
  sgemm_ms: number;
  sgemm_chain_gflops: number;
  model: string;
  batch: number;
  seq: number;
  tokens_per_step: number;
  params: number;
  params_matmul: number;
  model_gflop_per_step: number;
  attention_gflop_per_step: number;
  compile_s: number;
  steps: number;
  steps_timed: number;
  step_ms: number;
  step_ms_min: number;
  achieved_gflops: number;
  mfu: number;
  mfu_vs_chain: number;
  loss_first: number;
  loss_last: number;
  rss_mb_step50: number | null;
  rss_mb_end: number;
  rss_growth_pct: number | null;
}

export const DEFAULT_ENGINE_STEPS = 100;

/**
 * `chain` successive n x n x n float32 matrix products (x <- x @ b) in one run of a compiled graph; `run()` times
 * one run. b ~ N(0, 1/n) keeps the values' scale (no overflow or denormals along the chain).
 */
export class SgemmProbe {
  private constructor(
    private readonly c: CompiledGraph<"c">,
    private readonly feeds: Record<string, Float32Array>,
    readonly flops: number,
  ) {}

  static async create(n: number, threads: number, chain = 1): Promise<SgemmProbe> {
    const g = new Graph();
    const a = g.input("a", "float32", [n, n]);
    const b = g.input("b", "float32", [n, n]);
    let x = a;
    for (let i = 0; i < chain; i++) x = x.matmul(b);
    const c = await compile(g, { c: x }, { threads });
    const rng = new Rng(0);
    const fa = new Float32Array(n * n);
    const fb = new Float32Array(n * n);
    rng.fillNormal(fa);
    rng.fillNormal(fb, 1 / Math.sqrt(n));
    return new SgemmProbe(c, { a: fa, b: fb }, 2 * n * n * n * chain);
  }

  /** Milliseconds of one run. */
  async run(): Promise<number> {
    const t0 = performance.now();
    await this.c.run(this.feeds);
    return performance.now() - t0;
  }

  gflops(ms: number): number {
    return this.flops / (ms / 1000) / 1e9;
  }

  release(): Promise<void> {
    return this.c.release();
  }
}

/** Median time and rate of `chain` chained n^3 products per run, over `runs` runs (after 2 warm-up runs). */
export async function sgemm(n: number, threads: number, runs: number, chain = 1): Promise<{ ms: number; gflops: number }> {
  const probe = await SgemmProbe.create(n, threads, chain);
  const times = await timeRuns(() => probe.run(), runs, 2);
  await probe.release();
  const ms = median(times);
  return { ms, gflops: probe.gflops(ms) };
}

/** Parameters, matrix-product parameters and model FLOPs of one training step (see the header). */
export function stepFlops(config: ModelConfig, batch: number, seq: number) {
  const { vocabSize: V, hiddenSize: D, numLayers: L, numHeads: H, headDim: hd } = config;
  let params = 0;
  const g = new Graph();
  for (const p of paramLeaves(declareParams(g, config))) params += p.shape.reduce<number>((x, d) => x * (d as number), 1);
  const embedding = V * D;
  const paramsMatmul = config.tieWordEmbeddings ? params : params - embedding;
  const tokens = batch * seq;
  const attention = 12 * L * batch * seq * seq * H * hd;
  return { params, paramsMatmul, tokens, attention, total: 6 * paramsMatmul * tokens + attention };
}

/** A fixed set of next-token batches: ids [B, S] and labels = the following token. */
function batches(rng: Rng, count: number, batch: number, seq: number, vocab: number) {
  return Array.from({ length: count }, () => {
    const ids = new BigInt64Array(batch * seq);
    const labels = new BigInt64Array(batch * seq);
    for (let b = 0; b < batch; b++) {
      let next = rng.int(vocab);
      for (let t = 0; t < seq; t++) {
        ids[b * seq + t] = BigInt(next);
        next = rng.int(vocab);
        labels[b * seq + t] = BigInt(next);
      }
    }
    return { ids: { data: ids, dims: [batch, seq] }, labels: { data: labels, dims: [batch, seq] } };
  });
}

export async function runEngineBench(options: EngineBenchOptions = {}): Promise<EngineBenchResult> {
  const threads = options.threads ?? defaultThreads();
  const steps = options.steps ?? DEFAULT_ENGINE_STEPS;
  const batch = options.batch ?? 4;
  const seq = options.seq ?? 256;
  const log = options.log ?? (() => {});
  if (!Number.isInteger(steps) || steps < 7) throw new RangeError(`steps must be an integer >= 7, got ${steps}`);

  const size = options.sgemmSize ?? 1024;
  const preset = options.preset ?? "reference";
  const sgemmRuns = options.sgemmRuns ?? 20;
  log(`sgemm ${size}^3 probes on ${threads} thread(s)...`);
  const single = await SgemmProbe.create(size, threads, 1);
  const chain = await SgemmProbe.create(size, threads, 8);
  for (let i = 0; i < 2; i++) {
    await single.run();
    await chain.run();
  }
  const singleMs: number[] = [];
  const chainMs: number[] = [];
  const probe = async () => {
    singleMs.push(await single.run());
    chainMs.push(await chain.run());
  };

  const config = presetConfig(preset);
  const flops = stepFlops(config, batch, seq);
  log(`building and compiling the ${preset} training step (${(flops.params / 1e6).toFixed(2)}M params, ${batch} x ${seq} tokens)...`);
  const t0 = performance.now();
  const g = new Graph();
  const params = declareParams(g, config);
  const ids = g.input("ids", "int64", ["batch", "seq"]);
  const labels = g.input("labels", "int64", ["batch", "seq"]);
  // The loss as every training graph computes it (the plain head when its logits fit the chunk budget).
  const { hidden } = forwardHidden(config, params, { embeds: embedTokens(params, ids) });
  const chunk = ops.autoHeadChunk(config.vocabSize, batch * seq);
  const { loss } = ops.lmHeadCrossEntropy(hidden, headOf(params), labels, { chunk });
  const step = await TrainStep.create({ graph: g, loss, params: paramLeaves(params) }, initWeights(config, { seed: 1 }), { threads });
  const compileS = (performance.now() - t0) / 1000;

  const data = batches(new Rng(1), 4, batch, seq, config.vocabSize);
  const times: number[] = [];
  const losses: number[] = [];
  let rss50: number | null = null;
  for (let i = 1; i <= steps; i++) {
    const s0 = performance.now();
    const r = await step.step(data[i % data.length]!, 1e-3);
    times.push(performance.now() - s0);
    losses.push(r.loss);
    if (i === 50) rss50 = rssMb();
    // Spread the sgemm samples over the same time window as the steps: both see the same machine load.
    if (Math.floor((i * sgemmRuns) / steps) > Math.floor(((i - 1) * sgemmRuns) / steps)) await probe();
    if (i % 50 === 0 || i === steps) log(`step ${i}/${steps}: loss ${r.loss.toFixed(3)}, median ${median(times.slice(2)).toFixed(1)} ms`);
  }
  const rssEnd = rssMb();
  await single.release();
  await chain.release();
  const mm = { ms: median(singleMs), gflops: single.gflops(median(singleMs)) };
  const chained = { gflops: chain.gflops(median(chainMs)) };
  const timed = times.slice(2); // the first two runs include ORT's first-run allocations
  const stepMs = median(timed);
  const achieved = flops.total / (stepMs / 1000) / 1e9;
  return {
    threads,
    sgemm_size: size,
    sgemm_gflops: round(mm.gflops, 1),
    sgemm_ms: round(mm.ms, 2),
    sgemm_chain_gflops: round(chained.gflops, 1),
    model: preset,
    batch,
    seq,
    tokens_per_step: flops.tokens,
    params: flops.params,
    params_matmul: flops.paramsMatmul,
    model_gflop_per_step: round(flops.total / 1e9, 2),
    attention_gflop_per_step: round(flops.attention / 1e9, 2),
    compile_s: round(compileS, 2),
    steps,
    steps_timed: timed.length,
    step_ms: round(stepMs, 1),
    step_ms_min: round(Math.min(...timed), 1),
    achieved_gflops: round(achieved, 1),
    mfu: round(achieved / mm.gflops, 3),
    mfu_vs_chain: round(achieved / chained.gflops, 3),
    loss_first: round(losses[0]!, 4),
    loss_last: round(losses[losses.length - 1]!, 4),
    rss_mb_step50: rss50 === null ? null : round(rss50, 1),
    rss_mb_end: round(rssEnd, 1),
    rss_growth_pct: rss50 === null ? null : round((100 * (rssEnd - rss50)) / rss50, 1),
  };
}

/** The result as an aligned two-column table. */
export function engineTable(r: EngineBenchResult): string {
  const rows: [string, string][] = [
    ["threads", String(r.threads)],
    [`sgemm ${r.sgemm_size}^3`, `${r.sgemm_gflops} GFLOP/s (${r.sgemm_ms} ms per run); 8 chained in one run: ${r.sgemm_chain_gflops} GFLOP/s`],
    ["model", `${r.model}: ${(r.params / 1e6).toFixed(2)}M params (${(r.params_matmul / 1e6).toFixed(2)}M in matmuls), batch ${r.batch} x seq ${r.seq}`],
    ["FLOPs per step", `${r.model_gflop_per_step} GFLOP (attention ${r.attention_gflop_per_step})`],
    ["compile", `${r.compile_s} s`],
    ["training step", `${r.step_ms} ms median of ${r.steps_timed} (min ${r.step_ms_min} ms)`],
    ["throughput", `${r.achieved_gflops} GFLOP/s, ${Math.round(r.tokens_per_step / (r.step_ms / 1000))} tokens/s`],
    ["MFU", `${(100 * r.mfu).toFixed(1)}% of the sgemm rate (${(100 * r.mfu_vs_chain).toFixed(1)}% of the chained rate)`],
    ["loss", `${r.loss_first} -> ${r.loss_last} over ${r.steps} steps`],
    ["RSS after step 50", r.rss_mb_step50 === null ? "-" : `${r.rss_mb_step50} MiB`],
    [`RSS after step ${r.steps}`, `${r.rss_mb_end} MiB${r.rss_growth_pct === null ? "" : ` (${r.rss_growth_pct >= 0 ? "+" : ""}${r.rss_growth_pct}%)`}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

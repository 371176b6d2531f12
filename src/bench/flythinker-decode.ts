// Decode latency of FlyThinker (sequential and parallel) against SFT (the Generator alone), measured in one run.
// Two honest comparisons (docs/conventions.md, Performance yardsticks): (a) the paper's setting, where the Generator
// has the same threads as SFT and the Reasoner runs on a core of its own; (b) the same total hardware: SFT on all
// cores. By default the Generator is the reference model in float32; `preset` and `quantize` give any shape (random
// weights made as bench decode makes them) in int4 or int8, both models quantized.
import { availableParallelism } from "node:os";
import { presetConfig, type ModelConfig } from "../model/config.ts";
import { initWeights } from "../model/init.ts";
import { type ModelTensors, type QuantizeMode, quantScheme } from "../model/quantize.ts";
import { PairDecoder, type PairWeights, type DecodeMode, type PairTiming, pairThoughtScale } from "../flythinker/decode.ts";
import { DEFAULT_FUSION } from "../flythinker/fusion.ts";
import { Rng } from "../util/random.ts";
import { median, round } from "./stats.ts";
import { measureInterference, type InterferenceLoad } from "./interference.ts";
import { benchQuantizedWeights } from "./decode.ts";

export interface FlyThinkerDecodeBenchOptions {
  /** The Generator's shape (default "reference"); the Reasoner is it at half width. */
  preset?: string;
  /** Both models block-quantized (random weights as `bench decode` makes them); default float32. */
  quantize?: QuantizeMode;
  /** Rounds of the interference windows (default 24). */
  interferenceRounds?: number;
  promptTokens?: number;
  newTokens?: number;
  runs?: number;
  log?: (line: string) => void;
}

export interface FlyThinkerDecodeBench {
  generator: string;
  reasoner: string;
  /** The weights of both models: float32, int4 or int8. */
  weights: "float32" | QuantizeMode;
  prompt_tokens: number;
  new_tokens: number;
  runs: number;
  sft_ms_per_token: number;
  sequential_ms_per_token: number;
  parallel_ms_per_token: number;
  /** Median single-token times (robust to rare stalls of a shared machine): SFT, parallel, and their ratio. */
  sft_p50_ms: number;
  parallel_p50_ms: number;
  parallel_over_sft_p50: number;
  /** Sequential mode: the fused Generator step and the Reasoner step, ms each (means). */
  sequential_generator_ms: number;
  sequential_reasoner_ms: number;
  /** Parallel mode: the fused Generator step while the Reasoner runs on the other core, and the wait after it. */
  parallel_generator_ms: number;
  parallel_reasoner_wait_ms: number;
  /**
   * The same fused Generator step with no Reasoner work at all (the pair with "input" enhancement, whose generated
   * positions take no thought, so its Reasoner stays idle after the prefill).
   */
  generator_alone_ms: number;
  /** parallel_generator_ms / generator_alone_ms: how much the Reasoner running on the other core slows the Generator. */
  generator_slowdown_in_parallel: number;
  /** parallel / sft with one Generator thread each (the target is <= 1.10). */
  parallel_over_sft: number;
  /** SFT with all cores, for the same-hardware comparison. */
  sft_all_cores_ms_per_token: number;
  parallel_over_sft_all_cores: number;
  cores: number;
  /**
   * The Generator's one-token step with the other core idle (ms), and its slowdown while the other core runs each
   * load: the Reasoner's decoding loop, a width-32 model's (ONNX Runtime overhead, little data), reads of a 4 MB and
   * a 64 MB buffer, arithmetic only (median steps over alternating windows).
   */
  interference_alone_ms: number;
  interference: { load: string; ratio: number }[];
}

/** The Reasoner used by the benchmarks: the Generator at half width (same depth and vocabulary). */
export function halfWidth(config: ModelConfig): ModelConfig {
  const heads = Math.max(1, config.numHeads / 2);
  // Key/value heads: at most half the heads and the Generator's count, and a divisor of the heads (14 heads -> 7, 1).
  let kv = Math.max(1, Math.min(config.numKvHeads, Math.floor(heads / 2)));
  while (heads % kv !== 0) kv--;
  return {
    ...config,
    hiddenSize: config.hiddenSize / 2,
    numHeads: heads,
    numKvHeads: kv,
    headDim: config.hiddenSize / 2 / heads,
    intermediateSize: Math.round(config.intermediateSize / 2),
  };
}

/** ms: mean ms/token of a run, median over runs; p50: median of every single token's time; timing: the breakdown. */
type Measured = { ms: number; p50: number; timing: PairTiming };

interface Contender {
  model: PairWeights;
  mode: DecodeMode;
  threads: { generator: number; reasoner: number };
}

/**
 * ms/token of each contender (prefill excluded), median over `runs` rounds. Each round decodes once with every
 * contender in turn, so slow drifts of the machine hit all of them alike and the ratios stay fair.
 */
async function msPerToken(
  contenders: readonly Contender[],
  prompt: number[],
  forced: number[],
  runs: number,
): Promise<Measured[]> {
  const decoders: PairDecoder[] = [];
  try {
    for (const c of contenders) {
      decoders.push(await PairDecoder.create(c.model, { mode: c.mode, generatorThreads: c.threads.generator, reasonerThreads: c.threads.reasoner }));
    }
    const times: number[][] = contenders.map(() => []);
    const tokens: number[][] = contenders.map(() => []);
    for (let r = 0; r < runs + 1; r++) {
      for (const [i, dec] of decoders.entries()) {
        // A pause between contenders: ONNX Runtime's pool threads of a multi-threaded session spin a while after a
        // run, and would otherwise slow the next contender.
        await new Promise((resolve) => setTimeout(resolve, 20));
        const stamps: number[] = [];
        for await (const _ of dec.decode(prompt, (_l, gen) => forced[gen.length]!, forced.length)) stamps.push(performance.now());
        if (r === 0) {
          Object.assign(dec.timing, { steps: 0, generatorMs: 0, reasonerMs: 0 }); // round 0 warms up
          continue;
        }
        // From the first generated token on: per-token decode cost, prefill excluded.
        times[i]!.push((stamps[stamps.length - 1]! - stamps[0]!) / (stamps.length - 1));
        for (let k = 1; k < stamps.length; k++) tokens[i]!.push(stamps[k]! - stamps[k - 1]!);
      }
    }
    return times.map((t, i) => ({ ms: median(t), p50: median(tokens[i]!), timing: { ...decoders[i]!.timing } }));
  } finally {
    for (const dec of decoders) await dec.close();
  }
}

export async function benchFlyThinkerDecode(options: FlyThinkerDecodeBenchOptions = {}): Promise<FlyThinkerDecodeBench> {
  const promptTokens = options.promptTokens ?? 64;
  const newTokens = options.newTokens ?? 64;
  const runs = options.runs ?? 9;
  const generator = presetConfig(options.preset ?? "reference");
  const reasoner = halfWidth(generator);
  const scheme = options.quantize ? quantScheme(options.quantize) : undefined;
  const make = (c: ModelConfig, seed: number): ModelTensors => (scheme ? benchQuantizedWeights(c, scheme, seed) : initWeights(c, { seed }));
  const generatorWeights = make(generator, 1);
  const quantization = scheme ? { quantization: scheme } : {};
  const model: PairWeights = {
    pair: { generator, reasoner, fusion: DEFAULT_FUSION },
    generator: generatorWeights,
    reasoner: make(reasoner, 2),
    ...quantization,
  };
  model.thoughtScale = pairThoughtScale(model); // once, not per decoder (a quantized table is dequantized for it)
  const sft: PairWeights = { pair: { generator, fusion: DEFAULT_FUSION }, generator: generatorWeights, ...quantization };
  const rng = new Rng(3);
  const prompt = Array.from({ length: promptTokens }, () => rng.int(generator.vocabSize));
  const forced = Array.from({ length: newTokens }, () => rng.int(generator.vocabSize));
  const cores = availableParallelism();
  const one = { generator: 1, reasoner: 1 };

  const log = options.log ?? (() => {});
  log(`${options.quantize ?? "float32"} weights; decoding ${newTokens} tokens after a ${promptTokens}-token prompt, median of ${runs} interleaved rounds`);
  const idleReasoner: PairWeights = { ...model, pair: { ...model.pair, fusion: { ...model.pair.fusion, enhance: "input" } } };
  const [sft1, seq, par, sftAllCores, alone] = (await msPerToken(
    [
      { model: sft, mode: "sequential", threads: one },
      { model, mode: "sequential", threads: one },
      { model, mode: "parallel", threads: one },
      { model: sft, mode: "sequential", threads: { generator: cores, reasoner: 1 } },
      { model: idleReasoner, mode: "sequential", threads: one },
    ],
    prompt,
    forced,
    runs,
  )) as [Measured, Measured, Measured, Measured, Measured];
  const [sftMs, seqMs, parMs, sftAll] = [sft1.ms, seq.ms, par.ms, sftAllCores.ms];
  const perStep = (t: PairTiming, ms: number) => round(ms / t.steps, 3);
  log(`SFT (1 thread): ${sftMs.toFixed(2)} ms/token`);
  log(`FlyThinker sequential (1 thread): ${seqMs.toFixed(2)} ms/token`);
  log(`FlyThinker parallel (1 + 1 threads): ${parMs.toFixed(2)} ms/token`);
  log(`SFT (${cores} threads): ${sftAll.toFixed(2)} ms/token`);
  log("interference: the Generator's step while the other core runs other loads...");
  const tiny: ModelConfig = { ...generator, hiddenSize: 32, numHeads: 2, numKvHeads: 1, headDim: 16, intermediateSize: 64, vocabSize: 256 };
  const loads: InterferenceLoad[] = [
    { kind: "decode", name: "the Reasoner decoding", config: reasoner, ...quantization },
    { kind: "decode", name: "a width-32 model decoding", config: tiny },
    { kind: "stream", name: "reading 4 MB", bytes: 4 << 20 },
    { kind: "stream", name: "reading 64 MB", bytes: 64 << 20 },
    { kind: "arithmetic", name: "arithmetic only" },
  ];
  const interference = await measureInterference(generator, generatorWeights, loads, options.interferenceRounds ?? 24, scheme);
  const describe = (c: ModelConfig) => `d${c.hiddenSize} L${c.numLayers} H${c.numHeads}/${c.numKvHeads} F${c.intermediateSize} V${c.vocabSize}`;
  return {
    generator: describe(generator),
    reasoner: describe(reasoner),
    weights: options.quantize ?? "float32",
    prompt_tokens: promptTokens,
    new_tokens: newTokens,
    runs,
    sft_ms_per_token: sftMs,
    sequential_ms_per_token: seqMs,
    parallel_ms_per_token: parMs,
    sft_p50_ms: round(sft1.p50, 3),
    parallel_p50_ms: round(par.p50, 3),
    parallel_over_sft_p50: round(par.p50 / sft1.p50, 3),
    sequential_generator_ms: perStep(seq.timing, seq.timing.generatorMs),
    sequential_reasoner_ms: perStep(seq.timing, seq.timing.reasonerMs),
    parallel_generator_ms: perStep(par.timing, par.timing.generatorMs),
    parallel_reasoner_wait_ms: perStep(par.timing, par.timing.reasonerMs),
    generator_alone_ms: perStep(alone.timing, alone.timing.generatorMs),
    generator_slowdown_in_parallel: round(par.timing.generatorMs / par.timing.steps / (alone.timing.generatorMs / alone.timing.steps), 3),
    parallel_over_sft: parMs / sftMs,
    sft_all_cores_ms_per_token: sftAll,
    parallel_over_sft_all_cores: parMs / sftAll,
    cores,
    interference_alone_ms: round(interference.alone_ms, 3),
    interference: interference.slowdowns.map((x) => ({ load: x.load, ratio: round(x.ratio, 3) })),
  };
}

export function flyThinkerDecodeTable(r: FlyThinkerDecodeBench): string {
  const row = (name: string, ms: number, vs: string) => `${name.padEnd(44)} ${round(ms, 2).toFixed(2).padStart(8)}  ${vs}`;
  return [
    `Generator ${r.generator}; Reasoner ${r.reasoner}; ${r.weights}; ${r.new_tokens} tokens after ${r.prompt_tokens}, median of ${r.runs}`,
    `${"".padEnd(44)} ${"ms/token".padStart(8)}`,
    row("SFT, 1 thread", r.sft_ms_per_token, ""),
    row("FlyThinker sequential, 1 thread", r.sequential_ms_per_token, `${(r.sequential_ms_per_token / r.sft_ms_per_token).toFixed(2)}x SFT`),
    row("FlyThinker parallel, 1 + 1 threads", r.parallel_ms_per_token, `${r.parallel_over_sft.toFixed(2)}x SFT (target <= ${r.weights === "float32" ? "1.10" : "1.15"})`),
    `  median single token: SFT ${r.sft_p50_ms.toFixed(2)} ms, parallel ${r.parallel_p50_ms.toFixed(2)} ms = ${r.parallel_over_sft_p50.toFixed(2)}x SFT`,
    `  FlyThinker's Generator step alone ${r.generator_alone_ms.toFixed(2)} ms (SFT's: ${r.sft_ms_per_token.toFixed(2)}); ` +
      `sequential: Generator ${r.sequential_generator_ms.toFixed(2)} + Reasoner ${r.sequential_reasoner_ms.toFixed(2)} ms; ` +
      `parallel: Generator ${r.parallel_generator_ms.toFixed(2)} ms (${r.generator_slowdown_in_parallel.toFixed(2)}x alone: ` +
      `the cores share caches and memory) + wait for the Reasoner ${r.parallel_reasoner_wait_ms.toFixed(2)} ms`,
    `  the Generator's step (${r.interference_alone_ms.toFixed(2)} ms alone) while the other core runs: ` +
      r.interference.map((x) => `${x.load} ${x.ratio.toFixed(2)}x`).join(", "),
    row(`SFT, ${r.cores} threads (same hardware as parallel)`, r.sft_all_cores_ms_per_token, `parallel = ${r.parallel_over_sft_all_cores.toFixed(2)}x`),
  ].join("\n");
}

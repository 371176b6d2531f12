// Serving throughput and latency: a demo-size FlyThinker pair (random weights; the demo's default shapes, Generator
// d128 x 4 layers and Reasoner d128 x 2 layers, vocabulary 4096) behind `flythinker serve`'s HTTP server in parallel
// mode, with 1, 4, 8 and 16 concurrent streaming clients. Every request streams `newTokens` tokens (ignore_eos), each
// client with its own seed. Per level: aggregate tokens/s (all tokens over the round's wall time, median over the
// rounds), p50 / p99 time to first token and inter-token latency over every request of the level. `ratio`: aggregate
// tokens/s at 8 clients over 1 client, measured in the same run (the target is >= 3 on 2 cores).
import { availableParallelism } from "node:os";
import { presetConfig, type ModelConfig } from "../model/config.ts";
import { initWeights, withTokenizer } from "../model/init.ts";
import { DEFAULT_FUSION } from "../flythinker/fusion.ts";
import type { AnyModel } from "../flythinker/model.ts";
import { FlyThinkerServer } from "../serve/server.ts";
import { trainBpe } from "../tokenizer/bpe.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { Rng } from "../util/random.ts";
import { median, quantile, round } from "./stats.ts";

export interface ServeBenchOptions {
  clients?: readonly number[];
  newTokens?: number;
  rounds?: number;
  log?: (line: string) => void;
}

export interface ServeLevel {
  clients: number;
  tokens_per_s: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  itl_p50_ms: number;
  itl_p99_ms: number;
}

export interface ServeBenchResult {
  model: string;
  new_tokens: number;
  rounds: number;
  cores: number;
  levels: ServeLevel[];
  /** Aggregate tokens/s at 8 concurrent clients over 1 client (same run). */
  ratio: number | null;
  /** The same at 4 and 16 clients. */
  ratio_4: number | null;
  ratio_16: number | null;
}

export const DEFAULT_SERVE_CLIENTS = [1, 4, 8, 16];

/** The demo's default shapes (src/demo/options.ts: width 128, head size 64, half as many K/V heads, FFN 43/16). */
function demoShape(layers: number, vocabSize: number): ModelConfig {
  return { ...presetConfig("reference"), vocabSize, hiddenSize: 128, numLayers: layers, numHeads: 2, numKvHeads: 1, headDim: 64, intermediateSize: 344 };
}

/** A random demo-size FlyThinker pair with a 4096-token BPE tokenizer, in memory. */
function demoPair(): AnyModel {
  const rng = new Rng(5);
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const words = Array.from({ length: 6000 }, () => Array.from({ length: 3 + rng.int(6) }, () => letters[rng.int(26)]).join(""));
  const bpe = trainBpe(words.map((w) => w + " "), { vocabSize: 4096, minFrequency: 1 });
  const tok = new TextTokenizer(bpe.toTokenizerJson(), bpe.toTokenizerConfig(), "bench tokenizer");
  const generator = withTokenizer(demoShape(4, 4096), tok);
  const reasoner = withTokenizer(demoShape(2, 4096), tok);
  return {
    model: {
      pair: { generator, reasoner, fusion: DEFAULT_FUSION },
      generator: initWeights(generator, { seed: 1 }),
      reasoner: initWeights(reasoner, { seed: 2 }),
      generatorDir: "(in memory)",
    },
    tok,
    kind: "flythinker",
  };
}

interface StreamTiming {
  ttftMs: number;
  gapsMs: number[];
  tokens: number;
}

/** One streaming chat request; times its chunks. */
async function streamOnce(url: string, seed: number, newTokens: number): Promise<StreamTiming> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "flythinker",
      messages: [{ role: "user", content: `write about the request number ${seed}` }],
      max_tokens: newTokens,
      temperature: 1,
      seed,
      stream: true,
      stream_options: { include_usage: true },
      ignore_eos: true,
    }),
  });
  if (!res.ok || !res.body) throw new Error(`serve bench: HTTP ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buf = "";
  let ttftMs = -1;
  let last = 0;
  const gapsMs: number[] = [];
  let tokens = 0;
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(bytes, { stream: true });
    for (let cut = buf.indexOf("\n\n"); cut >= 0; cut = buf.indexOf("\n\n")) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = event.startsWith("data: ") ? event.slice(6) : "";
      if (data === "" || data === "[DONE]") continue;
      const chunk = JSON.parse(data) as { choices: { delta: { content?: string } }[]; usage?: { completion_tokens: number } | null };
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      if (!chunk.choices[0]?.delta.content) continue;
      const now = performance.now();
      if (ttftMs < 0) ttftMs = now - t0;
      else gapsMs.push(now - last);
      last = now;
    }
  }
  return { ttftMs, gapsMs, tokens };
}

export async function runServeBench(options: ServeBenchOptions = {}): Promise<ServeBenchResult> {
  const clients = options.clients ?? DEFAULT_SERVE_CLIENTS;
  const newTokens = options.newTokens ?? 64;
  const rounds = options.rounds ?? 3;
  const log = options.log ?? (() => {});
  const maxBatch = Math.max(...clients);
  const server = await FlyThinkerServer.start({
    models: [{ name: "flythinker", dir: "(in memory)", loaded: demoPair() }],
    port: 0,
    maxBatch,
    maxQueue: maxBatch,
  });
  const levels: ServeLevel[] = [];
  try {
    await streamOnce(server.url, 0, 8); // warm-up
    let seed = 1;
    for (const c of clients) {
      const rates: number[] = [];
      const ttfts: number[] = [];
      const gaps: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        const timings = await Promise.all(Array.from({ length: c }, () => streamOnce(server.url, seed++, newTokens)));
        const wall = (performance.now() - t0) / 1000;
        const tokens = timings.reduce((n, t) => n + t.tokens, 0);
        if (tokens !== c * newTokens) throw new Error(`serve bench: ${tokens} tokens streamed, expected ${c * newTokens}`);
        rates.push(tokens / wall);
        for (const t of timings) {
          ttfts.push(t.ttftMs);
          gaps.push(...t.gapsMs);
        }
      }
      const level: ServeLevel = {
        clients: c,
        tokens_per_s: round(median(rates), 1),
        ttft_p50_ms: round(quantile(ttfts, 0.5), 1),
        ttft_p99_ms: round(quantile(ttfts, 0.99), 1),
        itl_p50_ms: round(quantile(gaps, 0.5), 2),
        itl_p99_ms: round(quantile(gaps, 0.99), 2),
      };
      levels.push(level);
      log(`${c} clients: ${level.tokens_per_s} tokens/s, TTFT p50 ${level.ttft_p50_ms} ms, ITL p50 ${level.itl_p50_ms} ms`);
    }
  } finally {
    await server.shutdown(5000);
  }
  const at = (n: number) => levels.find((l) => l.clients === n)?.tokens_per_s;
  const ratio = (n: number) => (at(n) !== undefined && at(1) ? round(at(n)! / at(1)!, 2) : null);
  return {
    model: "demo-size FlyThinker pair (Generator d128 x 4, Reasoner d128 x 2, vocab 4096, random weights), parallel decoding",
    new_tokens: newTokens,
    rounds,
    cores: availableParallelism(),
    levels,
    ratio: ratio(8),
    ratio_4: ratio(4),
    ratio_16: ratio(16),
  };
}

export function serveBenchTable(r: ServeBenchResult): string {
  const rows = r.levels.map((l) =>
    `| ${l.clients} | ${l.tokens_per_s} | ${l.ttft_p50_ms} | ${l.ttft_p99_ms} | ${l.itl_p50_ms} | ${l.itl_p99_ms} |`);
  return [
    `${r.model}; ${r.new_tokens} tokens per request, ${r.rounds} rounds per level, ${r.cores} cores`,
    "| clients | tokens/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |",
    "|---|---|---|---|---|---|",
    ...rows,
    `aggregate tokens/s, 8 clients / 1 client: ${r.ratio ?? "n/a"} (4: ${r.ratio_4 ?? "n/a"}, 16: ${r.ratio_16 ?? "n/a"})`,
  ].join("\n");
}

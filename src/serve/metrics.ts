// Prometheus text exposition (version 0.0.4) of the server's counters, gauges and histograms. Label values are
// escaped; series are printed in the order they were first seen.

type Labels = Record<string, string>;

const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (l: Labels) => {
  const keys = Object.keys(l);
  return keys.length ? `{${keys.map((k) => `${k}="${escape(l[k]!)}"`).join(",")}}` : "";
};

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly type: "counter" | "gauge" | "histogram") {}
  abstract lines(): string[];
  text(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join("\n");
  }
}

export class Counter extends Metric {
  private values = new Map<string, { labels: Labels; value: number }>();
  constructor(name: string, help: string, type: "counter" | "gauge" = "counter") {
    super(name, help, type);
  }
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const v = this.values.get(key) ?? { labels, value: 0 };
    v.value += by;
    this.values.set(key, v);
  }
  set(labels: Labels, value: number): void {
    this.values.set(labelText(labels), { labels, value });
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  lines(): string[] {
    return [...this.values.values()].map((v) => `${this.name}${labelText(v.labels)} ${v.value}`);
  }
}

/** A gauge read when the metrics are printed. */
export class Gauge extends Metric {
  constructor(name: string, help: string, private readonly read: () => { labels: Labels; value: number }[]) {
    super(name, help, "gauge");
  }
  lines(): string[] {
    return this.read().map((v) => `${this.name}${labelText(v.labels)} ${v.value}`);
  }
}

export class Histogram extends Metric {
  private series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, readonly buckets: readonly number[]) {
    super(name, help, "histogram");
  }
  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    const s = this.series.get(key) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
    this.series.set(key, s);
  }
  count(labels: Labels): number {
    return this.series.get(labelText(labels))?.count ?? 0;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The server's metrics. */
export class ServerMetrics {
  readonly requests = new Counter("flythinker_requests_total", "HTTP requests by endpoint and status");
  readonly promptTokens = new Counter("flythinker_prompt_tokens_total", "Prompt tokens of generation requests");
  readonly completionTokens = new Counter("flythinker_completion_tokens_total", "Generated tokens");
  readonly cancelled = new Counter("flythinker_cancelled_total", "Requests whose client went away; their rows left the batch");
  readonly batchSize = new Histogram("flythinker_batch_size", "Rows in each decoding step", [1, 2, 4, 8, 16, 32, 64]);
  readonly ttft = new Histogram("flythinker_time_to_first_token_seconds", "From the request to its first token", SECONDS);
  readonly itl = new Histogram("flythinker_inter_token_latency_seconds", "Between two tokens of one response", SECONDS);
  readonly stepSeconds = new Histogram("flythinker_step_seconds", "Model calls of the batcher (prefill, join, step)", SECONDS);
  private readonly extra: Metric[] = [];

  add(metric: Metric): void {
    this.extra.push(metric);
  }

  text(): string {
    const all: Metric[] = [this.requests, this.promptTokens, this.completionTokens, this.cancelled, this.batchSize, this.ttft, this.itl, this.stepSeconds, ...this.extra];
    return all.map((m) => m.text()).join("\n") + "\n";
  }
}

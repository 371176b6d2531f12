// Progress of a training run: a cli-progress bar on stderr when it is a terminal (loss, tokens/s, ETA), plain log
// lines otherwise (about 100 over the run, plus every validation and checkpoint). Both show the process's resident
// memory.
import cliProgress from "cli-progress";
import { formatGb } from "../util/memory.ts";

export interface StepInfo {
  step: number;
  total: number;
  epoch: number;
  loss: number;
  lr: number;
  tokensPerS: number;
  /** Seconds left, estimated from the mean step time so far. */
  etaS: number;
  valLoss?: number;
  /** Resident set size of the process after the step, bytes. */
  rssBytes?: number;
}

export interface Reporter {
  start(total: number, done: number): void;
  step(info: StepInfo): void;
  /** A message (checkpoint written, validation loss, warnings). */
  log(line: string): void;
  stop(): void;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

export function formatStep(i: StepInfo): string {
  const val = i.valLoss !== undefined ? ` val ${i.valLoss.toFixed(4)}` : "";
  const rss = i.rssBytes !== undefined ? ` rss ${formatGb(i.rssBytes)}` : "";
  return (
    `step ${i.step}/${i.total} epoch ${i.epoch.toFixed(2)} loss ${i.loss.toFixed(4)}${val} lr ${i.lr.toExponential(2)} ` +
    `${Math.round(i.tokensPerS)} tok/s eta ${formatDuration(i.etaS)}${rss}`
  );
}

/** A reporter that prints nothing. */
export const silentReporter: Reporter = { start() {}, step() {}, log() {}, stop() {} };

/** Plain lines on `out` (every `every` steps, and the last step). */
export function lineReporter(write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Reporter {
  let every = 1;
  return {
    start(total) {
      every = Math.max(1, Math.ceil(total / 100));
    },
    step(i) {
      if (i.step % every === 0 || i.step === i.total || i.valLoss !== undefined) write(formatStep(i));
    },
    log: write,
    stop() {},
  };
}

/** A progress bar on stderr. */
export function barReporter(): Reporter {
  const multi = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: "train {bar} {value}/{total} | loss {loss} | {tps} tok/s | ETA {eta_h} | rss {rss}",
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  return {
    start(total, done) {
      bar = multi.create(total, done, { loss: "-", tps: "-", eta_h: "?", rss: "-" });
    },
    step(i) {
      const rss = i.rssBytes !== undefined ? formatGb(i.rssBytes) : "-";
      bar?.update(i.step, { loss: i.loss.toFixed(4), tps: String(Math.round(i.tokensPerS)), eta_h: formatDuration(i.etaS), rss });
      if (i.valLoss !== undefined) this.log(`step ${i.step}: validation loss ${i.valLoss.toFixed(4)}`);
    },
    log(line) {
      if (!bar) {
        process.stderr.write(line + "\n");
        return;
      }
      multi.log(line + "\n");
      multi.update(); // draw now: the bar redraws on a timer that a fast run may never reach
    },
    stop() {
      multi.stop();
      bar = undefined;
    },
  };
}

/** The bar on a terminal, plain lines otherwise. */
export function defaultReporter(): Reporter {
  return process.stderr.isTTY ? barReporter() : lineReporter();
}

/** Progress of a count of items (e.g. samples drawn): a bar on a terminal, a line every tenth otherwise. */
export interface CountProgress {
  tick(n?: number): void;
  stop(): void;
}

export function countProgress(label: string, total: number, write: (line: string) => void = (l) => process.stderr.write(l + "\n")): CountProgress {
  let done = 0;
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: `${label} {bar} {value}/{total} | ETA {eta_formatted}`, barsize: 24, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return {
      tick(n = 1) {
        done += n;
        bar.update(done);
      },
      stop: () => bar.stop(),
    };
  }
  const every = Math.max(1, Math.ceil(total / 10));
  return {
    tick(n = 1) {
      const before = Math.floor(done / every);
      done += n;
      if (Math.floor(done / every) > before || done === total) write(`${label} ${done}/${total}`);
    },
    stop() {},
  };
}

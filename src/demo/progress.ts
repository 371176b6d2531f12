// What the demo prints while it runs: a header line per stage, and a progress bar per stage on a terminal (plain
// lines at every tenth of the work otherwise, e.g. in CI logs). Everything goes to stderr; the results go to stdout.
import cliProgress from "cli-progress";
import { formatDuration, type Reporter, type StepInfo } from "../train/progress.ts";

export interface Progress {
  /** Advances to `done` of `total`; `info` is shown next to the bar. */
  update(done: number, info?: string): void;
  stop(): void;
}

export interface DemoConsole {
  /** A line of progress (stderr). */
  log(line: string): void;
  /** A progress bar for `total` units of work. */
  progress(label: string, total: number): Progress;
  /** A training reporter (loss, tokens/s, ETA). */
  trainReporter(label: string): Reporter;
}

function lineProgress(write: (line: string) => void, label: string, total: number): Progress {
  let nextShown = 0;
  const t0 = performance.now();
  return {
    update(done, info) {
      if (done < nextShown && done !== total) return;
      const s = (performance.now() - t0) / 1000;
      const eta = done > 0 ? (s / done) * (total - done) : NaN;
      write(`  ${label} ${done}/${total}${info ? ` | ${info}` : ""} | ${formatDuration(s)} elapsed, ETA ${formatDuration(eta)}`);
      nextShown = done + Math.max(1, Math.ceil(total / 10));
    },
    stop() {},
  };
}

/** Progress bars on a terminal: one line per running piece of work (lanes run several at once), with the log lines
 * printed above them. */
class TerminalBars {
  private multi: cliProgress.MultiBar | undefined;
  private open = 0;

  log(line: string): void {
    if (this.multi) this.multi.log(line + "\n");
    else process.stderr.write(line + "\n");
  }

  bar(label: string, total: number): Progress {
    this.multi ??= new cliProgress.MultiBar(
      {
        stream: process.stderr,
        format: `  {label} {bar} {value}/{total} | {info} | ETA {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    const multi = this.multi;
    const bar = multi.create(total, 0, { info: "", label: label.padEnd(12) });
    this.open++;
    let stopped = false;
    return {
      update(done, info) {
        bar.update(done, { info: info ?? "" });
      },
      stop: () => {
        if (stopped) return;
        stopped = true;
        bar.stop();
        if (--this.open === 0) {
          multi.stop();
          this.multi = undefined;
        }
      },
    };
  }
}

function stepInfo(i: StepInfo): string {
  return `loss ${i.loss.toFixed(3)}${i.valLoss !== undefined ? ` val ${i.valLoss.toFixed(3)}` : ""} | ${Math.round(i.tokensPerS)} tok/s`;
}

/** A console writing to `write` (plain lines), or to the terminal with bars when `tty`. */
export function demoConsole(opts: { tty?: boolean; write?: (line: string) => void } = {}): DemoConsole {
  const tty = opts.tty ?? process.stderr.isTTY === true;
  const bars = tty && !opts.write ? new TerminalBars() : undefined;
  const write = opts.write ?? (bars ? (line: string) => bars.log(line) : (line: string) => process.stderr.write(line + "\n"));
  const progress = (label: string, total: number): Progress => (bars ? bars.bar(label, total) : lineProgress(write, label, total));
  return {
    log: write,
    progress,
    trainReporter(label) {
      let p: Progress | undefined;
      return {
        start(total, done) {
          p = progress(label, total);
          p.update(done);
        },
        step(i) {
          p?.update(i.step, stepInfo(i));
        },
        log(line) {
          // the trainer's own messages (example counts, truncation) are not needed on the demo's screen
          if (!tty && !line.startsWith("wrote ")) write(`  ${line}`);
        },
        stop() {
          p?.stop();
          p = undefined;
        },
      };
    },
  };
}

/** A console that prints nothing (tests). */
export const silentConsole: DemoConsole = {
  log() {},
  progress: () => ({ update() {}, stop() {} }),
  trainReporter: () => ({ start() {}, step() {}, log() {}, stop() {} }),
};

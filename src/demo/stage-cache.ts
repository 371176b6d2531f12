// Cached pipeline stages: each stage owns the folder OUT/<name>/ and finishes by writing OUT/<name>/stage.json, a
// completion marker holding the hash of everything that determines the stage's output (its settings, the hashes of
// the stages it reads, and a code version). A later run reuses a finished stage whose hash is unchanged; it rebuilds
// the stage when the hash differs, when the marker is missing or unreadable, or when `fresh` is set. A stage is built
// in a temporary sibling folder that replaces OUT/<name>/ only when the build succeeds (marker included), so an
// interrupted run never leaves a folder that looks finished.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeDirAtomic } from "../data/io.ts";

export const MARKER_FILE = "stage.json";

/** Bump when a stage's code changes what it produces: every cached stage is then rebuilt. */
export const STAGE_CODE_VERSION = 1;

/** JSON with object keys sorted at every level (so the hash does not depend on key order). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return v;
  });
}

export interface StageMarker {
  stage: string;
  hash: string;
  settings: unknown;
  /** Hashes of the stages this one read, by stage name. */
  deps: Record<string, string>;
  codeVersion: number;
  seconds: number;
  finished: string;
}

/** The hash of a stage: name, code version, settings and the hashes of its inputs. */
export function stageHash(name: string, settings: unknown, deps: Record<string, string>, codeVersion = STAGE_CODE_VERSION): string {
  return createHash("sha256").update(canonicalJson({ stage: name, codeVersion, settings, deps })).digest("hex");
}

/** The marker of a finished stage folder, or undefined when there is none (or it cannot be read). */
export function readMarker(dir: string): StageMarker | undefined {
  const file = join(dir, MARKER_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const m = JSON.parse(readFileSync(file, "utf8")) as StageMarker;
    return typeof m.hash === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

export interface StageSpec<T = void> {
  /** Folder name under the output folder (also the name shown). */
  name: string;
  /** Everything besides the inputs that determines the output (plain JSON). */
  settings: unknown;
  /** Finished stages this one reads. */
  deps?: readonly StageResult<unknown>[];
  /**
   * Builds the stage into `dir` (an empty temporary folder that becomes OUT/<name>). A build that waits for a lane
   * first calls `clock.started()` when its work begins, so the stage's seconds count the work, not the wait.
   */
  build: (dir: string, clock: { started(): void }) => Promise<void>;
  /** What later stages need, read from the finished folder. */
  load: (dir: string) => T | Promise<T>;
}

export interface StageResult<T> {
  name: string;
  /** The finished folder, OUT/<name>. */
  dir: string;
  hash: string;
  cached: boolean;
  /** Seconds the build took (the original build's, when cached). */
  seconds: number;
  value: T;
}

export interface StageEvents {
  /** Called before a stage is built or reused; `reason` says why it is (re)built. */
  begin?: (name: string, cached: boolean, reason: string) => void;
  end?: (result: StageResult<unknown>) => void;
}

/** Runs stages under one output folder, reusing finished ones. */
export class StageRunner {
  constructor(
    readonly root: string,
    private readonly opts: { fresh?: boolean; codeVersion?: number; events?: StageEvents } = {},
  ) {}

  dirOf(name: string): string {
    return join(this.root, name);
  }

  /** Why a stage must be built, or null when its finished folder can be reused. */
  staleReason(name: string, hash: string): string | null {
    if (this.opts.fresh) return "--fresh";
    const m = readMarker(this.dirOf(name));
    if (!m) return existsSync(this.dirOf(name)) ? "unfinished" : "not built yet";
    if (m.hash !== hash) return "settings or inputs changed";
    return null;
  }

  async run<T>(spec: StageSpec<T>): Promise<StageResult<T>> {
    const deps = Object.fromEntries((spec.deps ?? []).map((d) => [d.name, d.hash]));
    const hash = stageHash(spec.name, spec.settings, deps, this.opts.codeVersion);
    const dir = this.dirOf(spec.name);
    const reason = this.staleReason(spec.name, hash);
    this.opts.events?.begin?.(spec.name, reason === null, reason ?? "cached");
    let result: StageResult<T>;
    if (reason === null) {
      const m = readMarker(dir)!;
      result = { name: spec.name, dir, hash, cached: true, seconds: m.seconds, value: await spec.load(dir) };
    } else {
      let t0 = performance.now();
      const clock = { started: () => void (t0 = performance.now()) };
      await writeDirAtomic(
        dir,
        async (tmp) => {
          await spec.build(tmp, clock);
          const marker: StageMarker = {
            stage: spec.name,
            hash,
            settings: spec.settings,
            deps,
            codeVersion: this.opts.codeVersion ?? STAGE_CODE_VERSION,
            seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
            finished: new Date().toISOString(),
          };
          await writeFile(join(tmp, MARKER_FILE), JSON.stringify(marker, null, 2) + "\n");
        },
        { overwrite: true },
      );
      const seconds = (performance.now() - t0) / 1000;
      result = { name: spec.name, dir, hash, cached: false, seconds, value: await spec.load(dir) };
    }
    this.opts.events?.end?.(result as StageResult<unknown>);
    return result;
  }
}

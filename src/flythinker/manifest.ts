// flythinker.json, the manifest of a trained folder: one typed reader and writer. Every field is checked on reading;
// a file without "version" (written before the field existed) is read as version 1.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { atomicWriteBytes } from "../util/files.ts";
import { UserError } from "../util/errors.ts";
import type { EnhanceMode, FuseMode } from "./fusion.ts";

export const MANIFEST_FILE = "flythinker.json";
export const MANIFEST_FORMAT = "flythinker-model";
/** The version written, and every version this program reads. */
export const MANIFEST_VERSION = 1;
export const MANIFEST_VERSIONS: readonly number[] = [1];

/** What was trained: a Generator + Reasoner pair (flythinker), or the Generator alone (every other method). */
export const METHOD_NAMES = ["flythinker", "sft", "nextquill", "llm-trsr", "cot", "coconut"] as const;
export type Method = (typeof METHOD_NAMES)[number];

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  method: Method;
  /** Folder names inside the trained folder. */
  generator: string;
  reasoner: string | null;
  /** Fusion options (null for SFT). */
  lambda: number | null;
  fuse: FuseMode | null;
  enhance: EnhanceMode | null;
  /** s: mean L2 norm of the rows of the trained Generator's embedding table (FlyThinker only). */
  embedding_norm_scale: number | null;
  /** File with the learned projection (fuse = projection only). */
  projection: string | null;
  /** sha256 fingerprint of the shared tokenizer (null when the model folder has none). */
  tokenizer_fingerprint: string | null;
  /** Training configuration and outcome. */
  training: Record<string, unknown>;
}

/** Writes `dir`/flythinker.json atomically. */
export function writeManifest(dir: string, manifest: Manifest): void {
  atomicWriteBytes(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
}

/** Reads `dir`/flythinker.json; a UserError names the file and the field when anything is wrong. */
export function readManifest(dir: string): Manifest {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file)) throw new UserError(`${dir} has no ${MANIFEST_FILE}: not a folder written by "flythinker train"`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseManifest(json, file);
}

/** Checks parsed JSON as a manifest; `file` names it in errors. */
export function parseManifest(json: unknown, file: string): Manifest {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new UserError(`${file}: expected a JSON object`);
  const m = json as Record<string, unknown>;
  const bad = (field: string, want: string): never => {
    throw new UserError(`${file}: field "${field}" must be ${want}, got ${JSON.stringify(m[field])}`);
  };
  if (m.format !== MANIFEST_FORMAT) bad("format", `"${MANIFEST_FORMAT}"`);
  const version = m.version ?? 1;
  if (typeof version !== "number" || !MANIFEST_VERSIONS.includes(version)) {
    throw new UserError(
      `${file}: manifest version ${JSON.stringify(m.version)} is not supported (this program reads version ${MANIFEST_VERSIONS.join(", ")})`,
    );
  }
  const oneOf = <T extends string>(field: string, values: readonly T[], nullable: boolean): T | null => {
    const v = m[field] ?? null;
    if (v === null && nullable) return null;
    if (!values.includes(v as T)) bad(field, values.map((x) => `"${x}"`).join(" or ") + (nullable ? " or null" : ""));
    return v as T;
  };
  const typed = <T>(field: string, kind: "string" | "number", nullable: boolean): T | null => {
    const v = m[field] ?? null;
    if (v === null && nullable) return null;
    if (typeof v !== kind || (kind === "number" && !Number.isFinite(v))) bad(field, `a ${kind}${nullable ? " or null" : ""}`);
    return v as T;
  };
  const training = m.training ?? {};
  if (typeof training !== "object" || training === null || Array.isArray(training)) bad("training", "an object");
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    method: oneOf<Method>("method", METHOD_NAMES, false)!,
    generator: typed<string>("generator", "string", false)!,
    reasoner: typed<string>("reasoner", "string", true),
    lambda: typed<number>("lambda", "number", true),
    fuse: oneOf<FuseMode>("fuse", ["prefix", "projection"], true),
    enhance: oneOf<EnhanceMode>("enhance", ["global", "input", "output"], true),
    embedding_norm_scale: typed<number>("embedding_norm_scale", "number", true),
    projection: typed<string>("projection", "string", true),
    tokenizer_fingerprint: typed<string>("tokenizer_fingerprint", "string", true),
    training: training as Record<string, unknown>,
  };
  if (manifest.method === "flythinker") {
    for (const f of ["reasoner", "lambda", "fuse", "enhance"] as const) {
      if (manifest[f] === null) throw new UserError(`${file}: a FlyThinker model needs field "${f}"`);
    }
    if (manifest.fuse === "projection" && manifest.projection === null) {
      throw new UserError(`${file}: fuse "projection" needs field "projection" (the weight file)`);
    }
  }
  return manifest;
}

/**
 * A row label for a trained folder: the method's name with the options that set it apart, e.g.
 * "NextQuill (alpha 0.1, threshold 0.05, weights 0.9/0.1)" or "LLM-TRSR (recurrent, R 0, extractive summaries)".
 */
export function methodLabel(m: Manifest): string {
  const t = m.training as {
    nextquill?: { alpha: number; threshold: number; weights: [number, number]; counterfactual?: string };
    trsr?: { mode: string; recent: number; summaries: string | null };
    cot?: { rationales: string | null; selfTrainIters: number; selfTrainK: number };
    coconut?: { c: number; maxLatentStage: number; epochsPerStage: number; finalStage: boolean };
  };
  switch (m.method) {
    case "flythinker":
      return `FlyThinker (lambda ${m.lambda}, ${m.fuse}, ${m.enhance})`;
    case "nextquill": {
      const o = t.nextquill;
      const none = o?.counterfactual === "none" ? ", None counterfactual" : "";
      return o ? `NextQuill (alpha ${o.alpha}, threshold ${o.threshold}, weights ${o.weights.join("/")}${none})` : "NextQuill";
    }
    case "llm-trsr": {
      const o = t.trsr;
      return o ? `LLM-TRSR (${o.mode}, R ${o.recent}, ${o.summaries === null ? "extractive summaries" : `summaries from ${o.summaries}`})` : "LLM-TRSR";
    }
    case "cot": {
      const o = t.cot;
      if (!o) return "CoT";
      const from = o.rationales === null ? "extractive rationales" : `rationales from ${o.rationales}`;
      return `CoT (${from}${o.selfTrainIters > 0 ? `, ReST-EM ${o.selfTrainIters} x K ${o.selfTrainK}` : ""})`;
    }
    case "coconut": {
      const o = t.coconut;
      return o ? `Coconut (c ${o.c}, max latent stage ${o.maxLatentStage}, ${o.epochsPerStage} epoch${o.epochsPerStage === 1 ? "" : "s"} per stage${o.finalStage ? ", final stage" : ""})` : "Coconut";
    }
    default:
      return "SFT";
  }
}

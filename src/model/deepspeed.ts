// DeepSpeed checkpoint folders, consolidated to one float32 state dict the way DeepSpeed's zero_to_fp32 does it,
// without DeepSpeed or Python. A Trainer checkpoint folder holds `latest` (the tag, e.g. "global_step500") and the tag
// folder with, per data-parallel rank R:
//   ZeRO 1/2: mp_rank_00_model_states.pt (param_shapes, shared_params, the 16-bit module) and
//             *_optim_states.pt with optimizer_state_dict.single_partition_of_fp32_groups: each group's fp32 values,
//             flattened in param_shapes order, padded, cut into one equal partition per rank;
//   ZeRO 3:   zero_pp_rank_R_mp_rank_00_model_states.pt and *_optim_states.pt with fp32_flat_groups: every
//             parameter cut into ceil(n / ranks) elements per rank (the last zero-padded), rank R's pieces
//             concatenated in param_shapes order.
// Parameters tied to another (shared_params: name -> source) get the source's values; frozen parameters come from
// frozen_param_fragments (whole in ZeRO 1/2, split over the ranks in ZeRO 3) and buffers from the module entries
// named by buffer_names.

import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import type { LoadedTensor } from "./safetensors.ts";
import { isTensorRef, openTorchCheckpoint, type TorchArchive } from "./torch-checkpoint.ts";
import type { PyKey, PyValue } from "./torch-pickle.ts";

export interface DeepSpeedWeights {
  tensors: Map<string, LoadedTensor>;
  stage: number;
  ranks: number;
  /** The tag folder read. */
  dir: string;
}

/** Whether `dir` looks like a DeepSpeed checkpoint (a `latest` file, or a tag folder with model-state files). */
export function isDeepSpeedCheckpoint(dir: string): boolean {
  if (existsSync(join(dir, "latest"))) return true;
  return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).some((f) => f.endsWith("_model_states.pt"));
}

const natural = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });

function get(m: PyValue | undefined, key: string, file: string, want: string): PyValue {
  if (!(m instanceof Map) || !m.has(key)) throw new UserError(`${file}: missing key "${key}" (${want})`);
  return m.get(key)!;
}

/** Reads and consolidates a DeepSpeed checkpoint: `dir` is the folder with `latest`, or the tag folder itself. */
export function readDeepSpeedCheckpoint(dir: string, tag?: string): DeepSpeedWeights {
  let tagDir = dir;
  if (tag !== undefined) tagDir = join(dir, tag);
  else if (existsSync(join(dir, "latest"))) tagDir = join(dir, readFileSync(join(dir, "latest"), "utf8").trim());
  if (!existsSync(tagDir) || !statSync(tagDir).isDirectory()) {
    throw new UserError(`${dir}: the DeepSpeed tag folder ${tagDir} does not exist (named by ${join(dir, "latest")})`);
  }
  const files = readdirSync(tagDir).sort(natural);
  const modelFiles = files.filter((f) => f.endsWith("_model_states.pt"));
  const optimFiles = files.filter((f) => f.endsWith("_optim_states.pt"));
  if (modelFiles.length === 0) throw new UserError(`${tagDir}: no *_model_states.pt file (not a DeepSpeed checkpoint folder)`);
  if (optimFiles.length === 0) {
    throw new UserError(`${tagDir}: no *_optim_states.pt files: the fp32 weights of a ZeRO checkpoint live there`);
  }
  const modelFile = join(tagDir, modelFiles[0]!);
  const model = openTorchCheckpoint(modelFile);
  let order: { name: string; shape: number[] }[][];
  let shared: [string, string][];
  let frozenShapes: [string, number[]][] = [];
  // Tensors taken as they are: buffers (module entries named in buffer_names) and rank 0's frozen fragments.
  const direct = new Map<string, LoadedTensor>();
  try {
    const shapes = get(model.root, "param_shapes", modelFile, "a list of {name: torch.Size} per parameter group");
    if (!Array.isArray(shapes)) throw new UserError(`${modelFile}: "param_shapes" must be a list of dicts`);
    order = shapes.map((g, gi) => {
      if (!(g instanceof Map)) throw new UserError(`${modelFile}: param_shapes[${gi}] must be a dict name -> torch.Size`);
      return sizesOf(g, `${modelFile}: param_shapes[${gi}]`);
    });
    const root = model.root as Map<PyKey, PyValue>;
    const sp = root.get("shared_params");
    shared = sp instanceof Map ? [...sp].map(([k, v]) => [String(k), String(v)]) : [];
    const fs = root.get("frozen_param_shapes");
    if (fs instanceof Map) frozenShapes = sizesOf(fs, `${modelFile}: frozen_param_shapes`).map((p) => [p.name, p.shape]);
    const buffers = root.get("buffer_names");
    const module = root.get("module");
    if (Array.isArray(buffers) && module instanceof Map) {
      for (const b of buffers) {
        const t = module.get(String(b));
        if (isTensorRef(t)) direct.set(String(b), model.tensor(t, String(b)));
      }
    }
  } finally {
    model.close();
  }
  const parts: Float32Array[][] = [];
  let stage = -1;
  for (const f of optimFiles) {
    const file = join(tagDir, f);
    const a = openTorchCheckpoint(file);
    try {
      const osd = get(a.root, "optimizer_state_dict", file, "DeepSpeed's optimizer state");
      const st = get(osd, "zero_stage", file, "the ZeRO stage");
      if (typeof st !== "number" || st < 1 || st > 3) throw new UserError(`${file}: "zero_stage" must be 1, 2 or 3, got ${String(st)}`);
      if (stage >= 0 && st !== stage) throw new UserError(`${file}: ZeRO stage ${st}, but ${optimFiles[0]} has stage ${stage}`);
      stage = st;
      const count = get(osd, "partition_count", file, "the number of ranks");
      const ranks = Array.isArray(count) ? Math.max(...(count as number[])) : (count as number);
      if (ranks !== optimFiles.length) {
        throw new UserError(`${tagDir}: the checkpoint was partitioned over ${ranks} ranks but ${optimFiles.length} *_optim_states.pt files are present`);
      }
      const key = stage <= 2 ? "single_partition_of_fp32_groups" : "fp32_flat_groups";
      parts.push(groupTensors(a, get(osd, key, file, "the fp32 partitions"), file, key));
    } finally {
      a.close();
    }
  }
  if (frozenShapes.length) {
    // ZeRO 1/2 keep each frozen parameter whole in the one model-state file; ZeRO 3 splits it across the ranks' files.
    const pieces = new Map<string, Float32Array[]>();
    for (const f of modelFiles) {
      const file = join(tagDir, f);
      const a = openTorchCheckpoint(file);
      try {
        const frags = get(a.root, "frozen_param_fragments", file, "the frozen parameters");
        if (!(frags instanceof Map)) throw new UserError(`${file}: "frozen_param_fragments" must be a dict of tensors`);
        for (const [name] of frozenShapes) {
          const t = frags.get(name);
          if (!isTensorRef(t)) throw new UserError(`${file}: frozen parameter "${name}" has no fragment`);
          (pieces.get(name) ?? pieces.set(name, []).get(name)!).push(a.tensor(t, name).data);
        }
      } finally {
        a.close();
      }
    }
    for (const [name, shape] of frozenShapes) {
      const n = numel(shape);
      const all = concat(pieces.get(name)!);
      if (all.length < n) throw new UserError(`${tagDir}: frozen parameter "${name}" has ${all.length} values, [${shape}] needs ${n}`);
      direct.set(name, { dtype: "F32", shape, data: all.slice(0, n) });
    }
  }
  const tensors = new Map([...direct, ...(stage <= 2 ? mergeZero2(order, parts, tagDir) : mergeZero3(order.flat(), parts, tagDir))]);
  for (const [name, source] of shared) {
    const t = tensors.get(source);
    if (t) tensors.set(name, t);
  }
  return { tensors, stage, ranks: optimFiles.length, dir: tagDir };
}

function sizesOf(m: Map<PyKey, PyValue>, where: string): { name: string; shape: number[] }[] {
  return [...m].map(([name, shape]) => {
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number")) {
      throw new UserError(`${where}["${String(name)}"] must be a torch.Size`);
    }
    return { name: String(name), shape: shape as number[] };
  });
}

function groupTensors(a: TorchArchive, v: PyValue, file: string, key: string): Float32Array[] {
  if (!Array.isArray(v)) throw new UserError(`${file}: "${key}" must be a list of tensors`);
  return v.map((t, i) => {
    if (!isTensorRef(t)) throw new UserError(`${file}: ${key}[${i}] must be a tensor`);
    return a.tensor(t, `${key}[${i}]`).data;
  });
}

const numel = (shape: readonly number[]) => shape.reduce((x, y) => x * y, 1);

function concat(list: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(list.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of list) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function mergeZero2(groups: { name: string; shape: number[] }[][], parts: Float32Array[][], dir: string): Map<string, LoadedTensor> {
  const out = new Map<string, LoadedTensor>();
  const ranks = parts.length;
  groups.forEach((params, gi) => {
    const full = concat(parts.map((p, r) => {
      const g = p[gi];
      if (!g) throw new UserError(`${dir}: rank ${r} has no fp32 partition for parameter group ${gi}`);
      return g;
    }));
    let offset = 0;
    for (const { name, shape } of params) {
      const n = numel(shape);
      if (offset + n > full.length) {
        throw new UserError(`${dir}: parameter group ${gi} holds ${full.length} values, too few for "${name}" at ${offset} (+${n})`);
      }
      out.set(name, { dtype: "F32", shape, data: full.slice(offset, offset + n) });
      offset += n;
    }
    // The group was padded to a multiple of 2 * ranks before partitioning.
    const align = (x: number) => Math.ceil(x / (2 * ranks)) * 2 * ranks;
    if (align(offset) !== align(full.length)) {
      throw new UserError(`${dir}: parameter group ${gi}: the parameters take ${offset} values but the partitions hold ${full.length}`);
    }
  });
  return out;
}

function mergeZero3(params: { name: string; shape: number[] }[], parts: Float32Array[][], dir: string): Map<string, LoadedTensor> {
  const ranks = parts.length;
  const flat = parts.map(concat);
  const out = new Map<string, LoadedTensor>();
  let offset = 0;
  for (const { name, shape } of params) {
    const n = numel(shape);
    const piece = Math.ceil(n / ranks);
    const data = new Float32Array(n);
    for (let r = 0; r < ranks && r * piece < n; r++) {
      const src = flat[r]!;
      if (offset + piece > src.length) throw new UserError(`${dir}: rank ${r}'s partition ends before parameter "${name}"`);
      data.set(src.subarray(offset, offset + Math.min(piece, n - r * piece)), r * piece);
    }
    out.set(name, { dtype: "F32", shape, data });
    offset += piece;
  }
  if (offset !== flat[0]!.length) {
    throw new UserError(`${dir}: the parameters take ${offset} values per rank but each rank's partition holds ${flat[0]!.length}`);
  }
  return out;
}

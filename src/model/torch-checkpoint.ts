// PyTorch checkpoint files (torch.save since 1.6: a zip archive holding data.pkl and one member per storage), read
// and written without Python: `pytorch_model.bin` of a Hugging Face Trainer, DeepSpeed's `*_model_states.pt` and
// `*_optim_states.pt`. Tensors come out as float32 like safetensors tensors (src/model/safetensors.ts), with the
// dtype they had on disk; strided views (a transpose, a slice, a tied weight sharing its storage) are gathered into
// row-major arrays.
//
// The writer emits an OrderedDict of contiguous tensors (f32 or bf16), one storage per tensor, readable by torch.load.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { UserError } from "../util/errors.ts";
import { atomicWriteFile } from "../util/files.ts";
import { type TorchTensorRef, type PyValue, type PyKey, unpickle } from "./torch-pickle.ts";
import { type ZipReader, openZip, zipWriter } from "./torch-zip.ts";
import {
  DTYPE_BYTES,
  type LoadedTensor,
  type TensorsToWrite,
  f32ToBf16Bits,
  toFloat32,
} from "./safetensors.ts";

export interface TorchArchive {
  file: string;
  /** The archive's top folder, e.g. "pytorch_model" or "archive". */
  prefix: string;
  /** What data.pkl holds, tensors as references. */
  root: PyValue;
  /** Reads a tensor's storage and returns its values in row-major order as float32. */
  tensor(ref: TorchTensorRef, name: string): LoadedTensor;
  close(): void;
}

export const isTensorRef = (v: PyValue | undefined): v is TorchTensorRef =>
  typeof v === "object" && v !== null && !(v instanceof Map) && !Array.isArray(v) && !(v instanceof Uint8Array) && v.kind === "tensor";

/** Opens a torch.save file: reads its directory and data.pkl (no storage yet). */
export function openTorchCheckpoint(file: string): TorchArchive {
  const zip = openZip(file);
  try {
    const pkl = [...zip.members.keys()].find((n) => n.endsWith("/data.pkl") && n.split("/").length === 2) ??
      (zip.members.has("data.pkl") ? "data.pkl" : undefined);
    if (pkl === undefined) {
      throw new UserError(`${file}: the archive has no data.pkl member: not a checkpoint written by torch.save`);
    }
    const prefix = pkl === "data.pkl" ? "" : pkl.slice(0, -"/data.pkl".length);
    // torch 2 records the byte order of the storages; older files are little-endian.
    const order = `${prefix ? prefix + "/" : ""}byteorder`;
    if (zip.members.has(order)) {
      const text = new TextDecoder().decode(zip.read(order)).trim();
      if (text !== "little") throw new UserError(`${file}: member "${order}" says "${text}"; only little-endian storages are read`);
    }
    const root = unpickle(zip.read(pkl), file, pkl);
    return archive(zip, prefix, root);
  } catch (e) {
    zip.close();
    throw e;
  }
}

function archive(zip: ZipReader, prefix: string, root: PyValue): TorchArchive {
  const file = zip.file;
  const cache = new Map<string, Float32Array>();
  const storage = (ref: TorchTensorRef, name: string): Float32Array => {
    const s = ref.storage;
    const hit = cache.get(s.key);
    if (hit) return hit;
    const member = `${prefix ? prefix + "/" : ""}data/${s.key}`;
    const m = zip.members.get(member);
    if (!m) throw new UserError(`${file}: tensor "${name}": storage member "${member}" is missing from the archive`);
    const want = s.numel * DTYPE_BYTES[s.dtype];
    if (m.size !== want) {
      throw new UserError(
        `${file}: tensor "${name}": member "${member}" holds ${m.size} bytes, but ${s.numel} elements of torch.${s.typeName} need ${want}`,
      );
    }
    const data = toFloat32(zip.read(member), s.dtype, s.numel);
    cache.set(s.key, data);
    return data;
  };
  return {
    file,
    prefix,
    root,
    tensor(ref, name) {
      const count = ref.shape.reduce((a, b) => a * b, 1);
      if (ref.shape.some((d) => d < 0) || ref.stride.some((d) => d < 0)) {
        throw new UserError(`${file}: tensor "${name}": negative size or stride`);
      }
      const dtype = ref.storage.dtype;
      if (count === 0) return { dtype, shape: ref.shape, data: new Float32Array(0) };
      const last = ref.offset + ref.shape.reduce((a, d, i) => a + (d - 1) * ref.stride[i]!, 0);
      if (ref.offset < 0 || last >= ref.storage.numel) {
        throw new UserError(
          `${file}: tensor "${name}": size [${ref.shape}] with stride [${ref.stride}] at offset ${ref.offset} ` +
            `reaches element ${last} of a storage of ${ref.storage.numel}`,
        );
      }
      const src = storage(ref, name);
      return { dtype, shape: ref.shape, data: gather(src, ref, count) };
    },
    close: () => zip.close(),
  };
}

/** Row-major values of a strided view: data[i] = src[offset + sum_k idx_k * stride_k]. */
function gather(src: Float32Array, ref: TorchTensorRef, count: number): Float32Array {
  const { shape, stride, offset } = ref;
  let contiguous = true;
  for (let k = shape.length - 1, expect = 1; k >= 0; k--) {
    if (shape[k] !== 1 && stride[k] !== expect) contiguous = false;
    expect *= shape[k]!;
  }
  if (contiguous) return offset === 0 && count === src.length ? src : src.slice(offset, offset + count);
  const out = new Float32Array(count);
  const idx = new Array<number>(shape.length).fill(0);
  let at = offset;
  for (let i = 0; i < count; i++) {
    out[i] = src[at]!;
    for (let k = shape.length - 1; k >= 0; k--) {
      idx[k]!++;
      at += stride[k]!;
      if (idx[k]! < shape[k]!) break;
      at -= stride[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

export interface TorchStateDict {
  tensors: Map<string, LoadedTensor>;
  /** Where the tensors were found: "" (the file is the state dict) or the key holding it ("module", "state_dict"). */
  key: string;
}

const STATE_DICT_KEYS = ["module", "state_dict", "model"];

/**
 * The tensors of a state-dict file: the file's object itself when it maps names to tensors, or the dict under
 * "module" (DeepSpeed), "state_dict" or "model". Every entry must be a tensor; errors name the file and the entry.
 */
export function readTorchStateDict(file: string): TorchStateDict {
  const a = openTorchCheckpoint(file);
  try {
    const { dict, key } = findStateDict(a.root, file);
    const tensors = new Map<string, LoadedTensor>();
    for (const [name, v] of dict) {
      const n = String(name);
      if (!isTensorRef(v)) {
        throw new UserError(`${file}: entry "${key ? key + "." : ""}${n}" is ${typeName(v)}, expected a tensor`);
      }
      tensors.set(n, a.tensor(v, n));
    }
    return { tensors, key };
  } finally {
    a.close();
  }
}

function typeName(v: PyValue): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "a list";
  if (v instanceof Map) return "a dict";
  if (typeof v === "object" && "kind" in v) return `a ${v.kind}`;
  return `a ${typeof v}`;
}

function findStateDict(root: PyValue, file: string): { dict: Map<PyKey, PyValue>; key: string } {
  if (!(root instanceof Map)) throw new UserError(`${file}: holds ${typeName(root)}, expected a state dict (a dict of tensors)`);
  if (root.size > 0 && [...root.values()].some(isTensorRef)) return { dict: root, key: "" };
  for (const k of STATE_DICT_KEYS) {
    const v = root.get(k);
    if (v instanceof Map) return { dict: v, key: k };
  }
  const keys = [...root.keys()].slice(0, 12).map(String).join(", ");
  throw new UserError(`${file}: no tensors at the top level and no "${STATE_DICT_KEYS.join('", "')}" entry (keys: ${keys || "none"})`);
}

// ---------------------------------------------------------------------------------------------------------------
// Writing.

export interface TorchWriteOptions {
  /** Stored dtype: "F32" (default) or "BF16" (round to nearest even). */
  dtype?: "F32" | "BF16";
  /** Zip64 records for every member even when the file is small (they are written anyway past 4 GiB). */
  zip64?: boolean;
}

/** Pickle opcodes of the program below (protocol 2). */
const OP = {
  PROTO: 0x80,
  GLOBAL: 0x63,
  EMPTY_TUPLE: 0x29,
  REDUCE: 0x52,
  MARK: 0x28,
  BINUNICODE: 0x58,
  BININT1: 0x4b,
  BININT: 0x4a,
  LONG1: 0x8a,
  TUPLE: 0x74,
  BINPERSID: 0x51,
  NEWFALSE: 0x89,
  SETITEMS: 0x75,
  STOP: 0x2e,
} as const;

class PickleBytes {
  private parts: number[] = [];
  op(o: number): this {
    this.parts.push(o);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.parts.push(OP.BINUNICODE, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24);
    for (const x of b) this.parts.push(x);
    return this;
  }
  global(module: string, name: string): this {
    this.parts.push(OP.GLOBAL);
    for (const x of new TextEncoder().encode(`${module}\n${name}\n`)) this.parts.push(x);
    return this;
  }
  int(v: number): this {
    if (v >= 0 && v < 256) this.parts.push(OP.BININT1, v);
    else if (v >= -(2 ** 31) && v < 2 ** 31) this.parts.push(OP.BININT, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
    else {
      // LONG1 with 8 bytes, little-endian two's complement.
      let b = BigInt.asUintN(64, BigInt(v));
      this.parts.push(OP.LONG1, 8);
      for (let i = 0; i < 8; i++, b >>= 8n) this.parts.push(Number(b & 0xffn));
    }
    return this;
  }
  ints(vs: readonly number[]): this {
    this.op(OP.MARK);
    for (const v of vs) this.int(v);
    return this.op(OP.TUPLE);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let k = shape.length - 1, acc = 1; k >= 0; k--) {
    s[k] = acc;
    acc *= shape[k]!;
  }
  return s;
}

/**
 * Writes tensors as torch.save writes a state dict: an OrderedDict name -> tensor in the given order, each tensor
 * contiguous with its own storage, under the archive folder named after the file. Written atomically.
 */
export function writeTorchStateDict(path: string, tensors: TensorsToWrite, opts: TorchWriteOptions = {}): void {
  const dtype = opts.dtype ?? "F32";
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const storageType = dtype === "BF16" ? "BFloat16Storage" : "FloatStorage";
  const p = new PickleBytes().op(OP.PROTO).op(2).global("collections", "OrderedDict").op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.MARK);
  entries.forEach(([name, t], i) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new UserError(`torch writer: tensor "${name}" has ${t.data.length} values but shape [${t.shape.join(", ")}] needs ${count}`);
    }
    p.str(name).global("torch._utils", "_rebuild_tensor_v2").op(OP.MARK);
    p.op(OP.MARK).str("storage").global("torch", storageType).str(String(i)).str("cpu").int(count).op(OP.TUPLE).op(OP.BINPERSID);
    p.int(0).ints(t.shape).ints(rowMajorStrides(t.shape)).op(OP.NEWFALSE);
    p.global("collections", "OrderedDict").op(OP.EMPTY_TUPLE).op(OP.REDUCE);
    p.op(OP.TUPLE).op(OP.REDUCE);
  });
  p.op(OP.SETITEMS).op(OP.STOP);
  const base = (path.split("/").pop() ?? "archive").replace(/\.[^.]*$/, "") || "archive";
  mkdirSync(dirname(path), { recursive: true });
  atomicWriteFile(path, (fd) => {
    const zip = zipWriter(fd, { zip64: opts.zip64 });
    zip.add(`${base}/data.pkl`, p.bytes());
    zip.add(`${base}/byteorder`, new TextEncoder().encode("little"));
    entries.forEach(([, t], i) => zip.add(`${base}/data/${i}`, storageBytes(t.data, dtype)));
    zip.add(`${base}/version`, new TextEncoder().encode("3\n"));
    zip.finish();
  });
}

function storageBytes(data: Float32Array, dtype: "F32" | "BF16"): Uint8Array {
  const out = new Uint8Array(data.length * (dtype === "F32" ? 4 : 2));
  const dv = new DataView(out.buffer);
  if (dtype === "F32") for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i]!, true);
  else for (let i = 0; i < data.length; i++) dv.setUint16(2 * i, f32ToBf16Bits(data[i]!), true);
  return out;
}

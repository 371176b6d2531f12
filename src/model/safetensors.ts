// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON header, then the data section.
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
// section) and may carry "__metadata__" (string -> string).
//
// The reader checks every field before touching data and reports each violation as a UserError naming the file and
// the tensor. All supported dtypes are converted to Float32Array (bf16 and f16 exactly). Files are read tensor by
// tensor through a file descriptor, so multi-GB checkpoints never need one buffer of their size.
// The writer emits F32 or BF16, keys sorted, header padded with spaces to a multiple of 8 bytes, written atomically.

import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "../util/errors.ts";
import { atomicWriteBytes, atomicWriteFile, writeAll } from "../util/files.ts";

export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Largest header this reader accepts; real headers are a few hundred KB at most. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  /** Absolute file offset of the data section (8 + header length). */
  dataStart: number;
  /** In file order of the header's keys. */
  tensors: TensorEntry[];
  metadata: Record<string, string> | null;
}

export interface LoadedTensor {
  /** The dtype stored in the file (data is always float32 in memory). */
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array;
}

export interface LoadedSafetensors {
  tensors: Map<string, LoadedTensor>;
  metadata: Record<string, string> | null;
}

export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array;
}

export type TensorsToWrite = Map<string, TensorToWrite> | Record<string, TensorToWrite>;

export interface WriteOptions {
  /** Stored dtype: "F32" (exact, default) or "BF16" (round to nearest even). */
  dtype?: "F32" | "BF16";
  /** Written as "__metadata__"; {"format": "pt"} is added when absent, as PyTorch-saved files have it. */
  metadata?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte sources: a file descriptor or an in-memory buffer.

interface ByteSource {
  size: number;
  /** Reads exactly `length` bytes at `offset` into a fresh, aligned buffer. */
  read(offset: number, length: number): Uint8Array;
}

function bufferSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (offset, length) => bytes.slice(offset, offset + length),
  };
}

function fdSource(fd: number, file: string): ByteSource {
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset, length) {
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, out, got, length - got, offset + got);
        if (n === 0) throw new UserError(`${file}: unexpected end of file at byte ${offset + got}`);
        got += n;
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Header parsing and validation.

function isNonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function parseHeader(src: ByteSource, file: string): SafetensorsHeader {
  if (src.size < 8) {
    throw new UserError(`${file}: file is ${src.size} bytes, too short for a safetensors file (8-byte header length)`);
  }
  const lenBytes = src.read(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new UserError(
      `${file}: header length ${n} bytes exceeds the limit of ${MAX_HEADER_BYTES} bytes (not a safetensors file, or corrupt)`,
    );
  }
  const headerLen = Number(n);
  if (8 + headerLen > src.size) {
    throw new UserError(
      `${file}: header length ${headerLen} bytes reaches past the end of the file (${src.size} bytes in all)`,
    );
  }
  const headerText = new TextDecoder("utf-8", { fatal: false }).decode(src.read(8, headerLen));
  let json: unknown;
  try {
    json = JSON.parse(headerText);
  } catch (e) {
    throw new UserError(`${file}: header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new UserError(`${file}: header must be a JSON object mapping tensor names to entries`);
  }
  const dataStart = 8 + headerLen;
  const dataSize = src.size - dataStart;
  const tensors: TensorEntry[] = [];
  let metadata: Record<string, string> | null = null;
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === "string")) {
        throw new UserError(`${file}: "__metadata__" must be an object with string values, got ${JSON.stringify(raw)}`);
      }
      metadata = { ...(raw as Record<string, string>) };
      continue;
    }
    const where = `${file}: tensor "${name}"`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new UserError(`${where}: entry must be an object {dtype, shape, data_offsets}, got ${JSON.stringify(raw)}`);
    }
    const e = raw as Record<string, unknown>;
    const dtype = e.dtype;
    if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
      throw new UserError(
        `${where}: unknown or unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(", ")})`,
      );
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      throw new UserError(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !isNonNegInt(offs[0]) || !isNonNegInt(offs[1]) || offs[0] > offs[1]) {
      throw new UserError(
        `${where}: data_offsets must be [begin, end] with integers 0 <= begin <= end, got ${JSON.stringify(offs)}`,
      );
    }
    const [begin, end] = offs as [number, number];
    if (end > dataSize) {
      throw new UserError(
        `${where}: data_offsets [${begin}, ${end}] reach past the end of the data section (${dataSize} bytes)`,
      );
    }
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    const want = count * DTYPE_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== want) {
      throw new UserError(
        `${where}: holds ${end - begin} bytes but shape [${shape.join(", ")}] of ${dtype} ` +
          `(${DTYPE_BYTES[dtype as SafetensorsDtype]} bytes each) needs ${want}`,
      );
    }
    tensors.push({ name, dtype: dtype as SafetensorsDtype, shape: [...shape], begin, end });
  }
  const byStart = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byStart.length; i++) {
    const p = byStart[i - 1]!;
    const c = byStart[i]!;
    if (c.begin < p.end) {
      throw new UserError(
        `${file}: tensors "${p.name}" (data_offsets [${p.begin}, ${p.end}]) and "${c.name}" ` +
          `(data_offsets [${c.begin}, ${c.end}]) overlap`,
      );
    }
  }
  return { file, fileSize: src.size, dataStart, tensors, metadata };
}

// ---------------------------------------------------------------------------------------------------------------
// Conversions to float32.

let f16Table: Float32Array | null = null;

/** float16 bit pattern -> float32 value, for all 65536 patterns (every f16 value is exact in f32). */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const man = h & 0x3ff;
    let v: number;
    if (exp === 0) v = man * 2 ** -24;
    else if (exp === 31) v = man === 0 ? Infinity : NaN;
    else v = (1024 + man) * 2 ** (exp - 25);
    t[h] = sign * v;
  }
  f16Table = t;
  return t;
}

/** Converts raw little-endian tensor bytes (in a fresh, aligned buffer) to float32. */
export function toFloat32(raw: Uint8Array, dtype: SafetensorsDtype, count: number): Float32Array {
  const buf = raw.buffer;
  const off = raw.byteOffset;
  const le = littleEndianHost;
  if (dtype === "F32" && le) return new Float32Array(buf, off, count);
  const dv = new DataView(buf, off, raw.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case "F32":
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case "BF16": {
      const bits = new Uint32Array(out.buffer);
      if (le) {
        const src = new Uint16Array(buf, off, count);
        for (let i = 0; i < count; i++) bits[i] = src[i]! << 16;
      } else {
        for (let i = 0; i < count; i++) out[i] = bf16BitsToF32(dv.getUint16(2 * i, true));
      }
      break;
    }
    case "F16": {
      const t = f16ToF32Table();
      for (let i = 0; i < count; i++) out[i] = t[dv.getUint16(2 * i, true)]!;
      break;
    }
    case "F64":
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case "I64":
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
      break;
    case "I32":
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true);
      break;
    case "I16":
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true);
      break;
    case "I8":
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      break;
    case "U8":
    case "BOOL":
      for (let i = 0; i < count; i++) out[i] = dv.getUint8(i);
      break;
  }
  return out;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const cvtF32 = new Float32Array(1);
const cvtU32 = new Uint32Array(cvtF32.buffer);

/** bfloat16 bits -> float32 value (exact). */
export function bf16BitsToF32(bits: number): number {
  cvtU32[0] = (bits & 0xffff) << 16;
  return cvtF32[0]!;
}

/** float32 value -> bfloat16 bits, rounding to nearest even (NaN stays a quiet NaN), as PyTorch does. */
export function f32ToBf16Bits(value: number): number {
  cvtF32[0] = value;
  const u = cvtU32[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Rounds every value of `data` to the nearest bfloat16 (in place) and returns it. */
export function roundToBf16(data: Float32Array): Float32Array {
  for (let i = 0; i < data.length; i++) data[i] = bf16BitsToF32(f32ToBf16Bits(data[i]!));
  return data;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading.

function loadFrom(src: ByteSource, file: string, names?: Iterable<string>): LoadedSafetensors {
  const header = parseHeader(src, file);
  const wanted = names ? new Set(names) : null;
  const tensors = new Map<string, LoadedTensor>();
  for (const t of header.tensors) {
    if (wanted && !wanted.has(t.name)) continue;
    const count = t.shape.reduce((a, b) => a * b, 1);
    const raw = src.read(header.dataStart + t.begin, t.end - t.begin);
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: toFloat32(raw, t.dtype, count) });
  }
  return { tensors, metadata: header.metadata };
}

/** Validates and returns the header of a safetensors file without reading tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openForRead(path);
  try {
    return parseHeader(fdSource(fd, path), path);
  } finally {
    closeSync(fd);
  }
}

function openForRead(path: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    throw new UserError(`cannot open safetensors file ${path}: ${(e as Error).message}`);
  }
}

/** Reads a safetensors file (all tensors, or only `names`), converting every tensor to float32. */
export function readSafetensors(path: string, names?: Iterable<string>): LoadedSafetensors {
  const fd = openForRead(path);
  try {
    return loadFrom(fdSource(fd, path), path, names);
  } finally {
    closeSync(fd);
  }
}

/** Parses safetensors bytes held in memory. `file` names the source in error messages. */
export function decodeSafetensors(bytes: Uint8Array, file = "<buffer>"): LoadedSafetensors {
  return loadFrom(bufferSource(bytes), file);
}

// ---------------------------------------------------------------------------------------------------------------
// Writing.

interface Planned {
  name: string;
  shape: number[];
  data: Float32Array;
  begin: number;
  end: number;
}

function entriesOf(tensors: TensorsToWrite): [string, TensorToWrite][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

function plan(tensors: TensorsToWrite, opts: WriteOptions): { header: Uint8Array; items: Planned[]; dtype: "F32" | "BF16" } {
  const dtype = opts.dtype ?? "F32";
  if (dtype !== "F32" && dtype !== "BF16") throw new UserError(`safetensors writer: unsupported dtype ${dtype}`);
  const size = DTYPE_BYTES[dtype];
  const items: Planned[] = [];
  let offset = 0;
  for (const [name, t] of entriesOf(tensors).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    if (name === "__metadata__") throw new UserError(`safetensors writer: "__metadata__" is not a valid tensor name`);
    const shape = [...t.shape];
    if (!shape.every(isNonNegInt)) throw new UserError(`safetensors writer: tensor "${name}" has a bad shape [${shape}]`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new UserError(
        `safetensors writer: tensor "${name}" has ${t.data.length} values but shape [${shape.join(", ")}] needs ${count}`,
      );
    }
    items.push({ name, shape, data: t.data, begin: offset, end: offset + count * size });
    offset += count * size;
  }
  const json: Record<string, unknown> = {};
  json.__metadata__ = { format: "pt", ...(opts.metadata ?? {}) };
  for (const it of items) json[it.name] = { dtype, shape: it.shape, data_offsets: [it.begin, it.end] };
  let text = JSON.stringify(json);
  let bytes = Buffer.from(text, "utf8");
  const pad = (8 - (bytes.length % 8)) % 8;
  if (pad) {
    text += " ".repeat(pad);
    bytes = Buffer.from(text, "utf8");
  }
  const header = new Uint8Array(8 + bytes.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(bytes.length), true);
  header.set(bytes, 8);
  return { header, items, dtype };
}

const CHUNK = 1 << 22; // values per conversion chunk when writing BF16 or on big-endian hosts

function tensorBytes(it: Planned, dtype: "F32" | "BF16", emit: (b: Uint8Array) => void): void {
  const d = it.data;
  if (dtype === "F32" && littleEndianHost) {
    emit(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    return;
  }
  for (let s = 0; s < d.length; s += CHUNK) {
    const n = Math.min(CHUNK, d.length - s);
    const out = new Uint8Array(n * DTYPE_BYTES[dtype]);
    const dv = new DataView(out.buffer);
    if (dtype === "F32") for (let i = 0; i < n; i++) dv.setFloat32(4 * i, d[s + i]!, true);
    else for (let i = 0; i < n; i++) dv.setUint16(2 * i, f32ToBf16Bits(d[s + i]!), true);
    emit(out);
  }
}

/** Serialises tensors to safetensors bytes in memory (small files; use writeSafetensors for big ones). */
export function encodeSafetensors(tensors: TensorsToWrite, opts: WriteOptions = {}): Uint8Array {
  const { header, items, dtype } = plan(tensors, opts);
  const total = header.length + (items.length ? items[items.length - 1]!.end : 0);
  const out = new Uint8Array(total);
  out.set(header, 0);
  for (const it of items) {
    let pos = header.length + it.begin;
    tensorBytes(it, dtype, (b) => {
      out.set(b, pos);
      pos += b.length;
    });
  }
  return out;
}

/** Writes a safetensors file atomically (temporary file, then rename), streaming tensor by tensor. */
export function writeSafetensors(path: string, tensors: TensorsToWrite, opts: WriteOptions = {}): void {
  const { header, items, dtype } = plan(tensors, opts);
  mkdirSync(dirname(path), { recursive: true });
  atomicWriteFile(path, (fd) => {
    writeAll(fd, header);
    for (const it of items) tensorBytes(it, dtype, (b) => writeAll(fd, b));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Sharded checkpoints: model.safetensors.index.json = {"metadata": {...}, "weight_map": {tensor: shard file}}.

export interface SafetensorsIndex {
  file: string;
  metadata: Record<string, unknown>;
  /** tensor name -> shard file name (relative to the index's folder). */
  weightMap: Map<string, string>;
}

export function readSafetensorsIndex(path: string): SafetensorsIndex {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`${path}: cannot read safetensors index (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new UserError(`${path}: safetensors index must be a JSON object with a "weight_map"`);
  }
  const o = json as Record<string, unknown>;
  const wm = o.weight_map;
  if (wm === null || typeof wm !== "object" || Array.isArray(wm)) {
    throw new UserError(`${path}: "weight_map" must be an object mapping tensor names to shard files`);
  }
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== "string" || shard === "" || shard.includes("/") || shard.includes("\\") || shard.startsWith(".")) {
      throw new UserError(`${path}: tensor "${name}": shard must be a plain file name in the same folder, got ${JSON.stringify(shard)}`);
    }
    weightMap.set(name, shard);
  }
  const md = o.metadata;
  const metadata = md !== null && typeof md === "object" && !Array.isArray(md) ? (md as Record<string, unknown>) : {};
  return { file: path, metadata, weightMap };
}

/**
 * Reads every tensor named in a sharded checkpoint's index from its shard. Errors when a shard lacks a tensor the
 * index assigns to it. Tensors present in a shard but absent from the index are ignored, as transformers does.
 */
export function readShardedSafetensors(indexPath: string): LoadedSafetensors {
  const index = readSafetensorsIndex(indexPath);
  const dir = dirname(indexPath);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of index.weightMap) {
    const list = byShard.get(shard) ?? [];
    list.push(name);
    byShard.set(shard, list);
  }
  const tensors = new Map<string, LoadedTensor>();
  let metadata: Record<string, string> | null = null;
  for (const [shard, names] of [...byShard.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const path = join(dir, shard);
    const loaded = readSafetensors(path, names);
    for (const name of names) {
      const t = loaded.tensors.get(name);
      if (!t) throw new UserError(`${indexPath}: tensor "${name}" is mapped to ${shard}, which does not contain it`);
      tensors.set(name, t);
    }
    metadata ??= loaded.metadata;
  }
  return { tensors, metadata };
}

/** Shard file names as transformers writes them: model-00001-of-00003.safetensors. */
export function shardFileName(i: number, n: number): string {
  return `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
}

/**
 * Writes tensors into `dir` as `model.safetensors` when they fit in `maxShardBytes` (default 5 GB, as transformers),
 * else as numbered shards plus `model.safetensors.index.json`. Tensors are packed in name order; a tensor larger
 * than the limit gets a shard of its own. Returns the file names written.
 */
export function writeSafetensorsShards(
  dir: string,
  tensors: TensorsToWrite,
  opts: WriteOptions & { maxShardBytes?: number } = {},
): string[] {
  const limit = opts.maxShardBytes ?? 5_000_000_000;
  const size = DTYPE_BYTES[opts.dtype ?? "F32"];
  const entries = entriesOf(tensors).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const shards: [string, TensorToWrite][][] = [];
  let current: [string, TensorToWrite][] = [];
  let bytes = 0;
  let total = 0;
  for (const e of entries) {
    const b = e[1].data.length * size;
    total += b;
    if (current.length && bytes + b > limit) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += b;
  }
  if (current.length || shards.length === 0) shards.push(current);
  mkdirSync(dir, { recursive: true });
  if (shards.length === 1) {
    writeSafetensors(join(dir, "model.safetensors"), new Map(shards[0]), opts);
    return ["model.safetensors"];
  }
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  shards.forEach((list, i) => {
    const name = shardFileName(i, shards.length);
    writeSafetensors(join(dir, name), new Map(list), opts);
    for (const [t] of list) weightMap[t] = name;
    files.push(name);
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  atomicWriteBytes(join(dir, "model.safetensors.index.json"), JSON.stringify(index, null, 2) + "\n");
  files.push("model.safetensors.index.json");
  return files;
}

// ---------------------------------------------------------------------------------------------------------------
// Raw tensors: F32 and U8 kept as they are stored (quantized models, model/quantized-folder.ts).

export interface RawTensor {
  shape: number[];
  data: Float32Array | Uint8Array;
}

/** Reads a safetensors file whose tensors are F32 or U8, without conversion (F32 -> Float32Array, U8 -> Uint8Array). */
export function readRawSafetensors(path: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const fd = openForRead(path);
  try {
    const src = fdSource(fd, path);
    const header = parseHeader(src, path);
    const tensors = new Map<string, RawTensor>();
    for (const t of header.tensors) {
      if (t.dtype !== "F32" && t.dtype !== "U8") throw new UserError(`${path}: tensor "${t.name}" is ${t.dtype}; this file may hold only F32 and U8 tensors`);
      const count = t.shape.reduce((a, b) => a * b, 1);
      const raw = src.read(header.dataStart + t.begin, t.end - t.begin);
      tensors.set(t.name, { shape: t.shape, data: t.dtype === "U8" ? raw : toFloat32(raw, "F32", count) });
    }
    return { tensors, metadata: header.metadata ?? {} };
  } finally {
    closeSync(fd);
  }
}

/** Writes F32 (Float32Array) and U8 (Uint8Array) tensors as they are, keys sorted, atomically. */
export function writeRawSafetensors(path: string, tensors: ReadonlyMap<string, RawTensor>, metadata: Record<string, string> = {}): void {
  const json: Record<string, unknown> = { __metadata__: { format: "pt", ...metadata } };
  const items = [...tensors.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let offset = 0;
  for (const [name, t] of items) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new UserError(`safetensors writer: tensor "${name}" has ${t.data.length} values but shape [${t.shape.join(", ")}] needs ${count}`);
    json[name] = { dtype: t.data instanceof Uint8Array ? "U8" : "F32", shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let text = JSON.stringify(json);
  text += " ".repeat((8 - (Buffer.byteLength(text, "utf8") % 8)) % 8);
  const body = Buffer.from(text, "utf8");
  const header = new Uint8Array(8 + body.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length), true);
  header.set(body, 8);
  mkdirSync(dirname(path), { recursive: true });
  atomicWriteFile(path, (fd) => {
    writeAll(fd, header);
    for (const [, t] of items) {
      if (t.data instanceof Uint8Array || littleEndianHost) writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      else {
        const out = new Uint8Array(t.data.byteLength);
        const dv = new DataView(out.buffer);
        t.data.forEach((v, i) => dv.setFloat32(4 * i, v, true));
        writeAll(fd, out);
      }
    }
  });
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bf16BitsToF32,
  decodeSafetensors,
  encodeSafetensors,
  f32ToBf16Bits,
  readSafetensors,
  readSafetensorsHeader,
  readShardedSafetensors,
  writeSafetensors,
  writeSafetensorsShards,
} from "../../src/model/safetensors.ts";
import { UserError } from "../../src/util/errors.ts";

const tmp = mkdtempSync(join(tmpdir(), "st-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** A safetensors file from a header (object or raw text) and data bytes; `lenOverride` fakes the length field. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const h = Buffer.from(text, "utf8");
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

let fileNo = 0;
function onDisk(bytes: Uint8Array): string {
  const p = join(tmp, `crafted-${fileNo++}.safetensors`);
  writeFileSync(p, bytes);
  return p;
}

/** Asserts that reading the crafted file fails with a UserError whose message matches every pattern. */
function rejects(bytes: Uint8Array, ...patterns: RegExp[]): void {
  const path = onDisk(bytes);
  for (const read of [() => readSafetensors(path), () => decodeSafetensors(bytes, path)]) {
    assert.throws(read, (e: unknown) => {
      assert.ok(e instanceof UserError, `expected UserError, got ${String(e)}`);
      assert.ok(e.message.includes(path), `message should name the file: ${e.message}`);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    });
  }
}

const f32 = (vals: number[]) => new Uint8Array(new Float32Array(vals).buffer);

test("file shorter than 8 bytes", () => {
  rejects(new Uint8Array(0), /0 bytes, too short/);
  rejects(new Uint8Array(7), /7 bytes, too short/);
});

test("header length beyond the end of the file", () => {
  rejects(craft({}, new Uint8Array(0), 1000n), /header length 1000 bytes reaches past the end of the file \(10 bytes/);
});

test("absurd header length (> 100 MB)", () => {
  rejects(craft({}, new Uint8Array(0), 2n ** 63n), /exceeds the limit of 100000000 bytes/);
  rejects(craft({}, new Uint8Array(0), 100_000_001n), /header length 100000001 bytes exceeds/);
});

test("header that is not JSON, or not an object", () => {
  rejects(craft("{not json"), /header is not valid JSON/);
  rejects(craft("[1, 2]"), /header must be a JSON object/);
  rejects(craft("null"), /header must be a JSON object/);
});

test("entry that is not an object", () => {
  rejects(craft({ w: 5 }), /tensor "w": entry must be an object/);
});

test("unknown dtype", () => {
  rejects(craft({ w: { dtype: "Q4", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor "w": unknown or unsupported dtype "Q4"/);
  rejects(craft({ w: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "w": unknown or unsupported dtype undefined/);
});

test("shape not an array of non-negative integers", () => {
  for (const shape of [[-1], [1.5], "3", null, [2, "2"]]) {
    rejects(craft({ w: { dtype: "F32", shape, data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "w": shape must be an array of non-negative integers/);
  }
});

test("data_offsets not [begin, end]", () => {
  for (const offs of [[0], [0, 4, 8], [4, 0], [-4, 0], "0,4", [0, 4.5]]) {
    rejects(craft({ w: { dtype: "F32", shape: [1], data_offsets: offs } }, new Uint8Array(8)), /tensor "w": data_offsets must be \[begin, end\]/);
  }
});

test("data_offsets outside the data section", () => {
  rejects(
    craft({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)),
    /tensor "w": data_offsets \[0, 8\] reach past the end of the data section \(4 bytes\)/,
  );
});

test("overlapping tensors", () => {
  const header = {
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
  };
  rejects(craft(header, new Uint8Array(12)), /tensors "a" \(data_offsets \[0, 8\]\) and "b" \(data_offsets \[4, 12\]\) overlap/);
});

test("byte length disagrees with shape x dtype size", () => {
  rejects(
    craft({ w: { dtype: "F32", shape: [2, 3], data_offsets: [0, 20] } }, new Uint8Array(24)),
    /tensor "w": holds 20 bytes but shape \[2, 3\] of F32 \(4 bytes each\) needs 24/,
  );
  rejects(
    craft({ w: { dtype: "BF16", shape: [3], data_offsets: [0, 12] } }, new Uint8Array(12)),
    /tensor "w": holds 12 bytes but shape \[3\] of BF16 \(2 bytes each\) needs 6/,
  );
});

test("bad __metadata__", () => {
  rejects(craft({ __metadata__: { a: 1 } }), /"__metadata__" must be an object with string values/);
});

test("a valid hand-made file of every dtype reads to the right float32 values", () => {
  const parts: Uint8Array[] = [];
  const header: Record<string, unknown> = { __metadata__: { format: "pt", note: "hand-made" } };
  let off = 0;
  const add = (name: string, dtype: string, shape: number[], bytes: Uint8Array) => {
    header[name] = { dtype, shape, data_offsets: [off, off + bytes.length] };
    parts.push(bytes);
    off += bytes.length;
  };
  add("f32", "F32", [2, 2], f32([1, -2.5, 3.25, 1e-30]));
  const f64 = new Float64Array([0.5, -1e10]);
  add("f64", "F64", [2], new Uint8Array(f64.buffer));
  // bf16 bits: 1.0 = 0x3f80, -2.0 = 0xc000, smallest subnormal = 0x0001, +inf = 0x7f80
  add("bf16", "BF16", [4], new Uint8Array(new Uint16Array([0x3f80, 0xc000, 0x0001, 0x7f80]).buffer));
  // f16 bits: 1.0 = 0x3c00, -0.5 = 0xb800, max 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001, 1/3 ~ 0x3555, -inf
  add("f16", "F16", [6], new Uint8Array(new Uint16Array([0x3c00, 0xb800, 0x7bff, 0x0001, 0x3555, 0xfc00]).buffer));
  add("i64", "I64", [2], new Uint8Array(new BigInt64Array([-7n, 123456789n]).buffer));
  add("i32", "I32", [3], new Uint8Array(new Int32Array([-1, 0, 2147483647]).buffer));
  add("empty", "F32", [0, 3], new Uint8Array(0));
  const data = new Uint8Array(off);
  let p = 0;
  for (const b of parts) {
    data.set(b, p);
    p += b.length;
  }
  const bytes = craft(header, data);
  const path = onDisk(bytes);
  for (const loaded of [readSafetensors(path), decodeSafetensors(bytes)]) {
    assert.deepEqual(loaded.metadata, { format: "pt", note: "hand-made" });
    const get = (n: string) => Array.from(loaded.tensors.get(n)!.data);
    assert.deepEqual(loaded.tensors.get("f32")!.shape, [2, 2]);
    assert.deepEqual(get("f32"), [1, -2.5, 3.25, Math.fround(1e-30)]);
    assert.deepEqual(get("f64"), [0.5, Math.fround(-1e10)]);
    assert.deepEqual(get("bf16"), [1, -2, 2 ** -133, Infinity]);
    assert.deepEqual(get("f16"), [1, -0.5, 65504, 2 ** -24, 1365 / 4096, -Infinity]);
    assert.equal(get("f16")[4], 0.333251953125);
    assert.deepEqual(get("i64"), [-7, Math.fround(123456789)]);
    assert.deepEqual(get("i32"), [-1, 0, 2 ** 31]); // nearest float32
    assert.deepEqual(loaded.tensors.get("empty")!.shape, [0, 3]);
    assert.equal(loaded.tensors.get("empty")!.data.length, 0);
    assert.equal(loaded.tensors.get("bf16")!.dtype, "BF16");
  }
  const h = readSafetensorsHeader(path);
  assert.equal(h.tensors.length, 7);
  assert.equal(h.dataStart, 8 + Buffer.byteLength(JSON.stringify(header)));
});

function randomTensor(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    a[i] = (x / 2 ** 32 - 0.5) * 2 ** ((x % 40) - 20);
  }
  return a;
}

test("write -> read round trip is bit-exact, header sorted and 8-byte aligned with space padding", () => {
  const tensors = new Map([
    ["zeta", { shape: [3, 5], data: randomTensor(15, 1) }],
    ["alpha", { shape: [7], data: randomTensor(7, 2) }],
    ["mid.weight", { shape: [2, 2, 2], data: new Float32Array([0, -0, NaN, Infinity, -Infinity, 1e-45, 3.4e38, -1]) }],
  ]);
  const path = join(tmp, "roundtrip.safetensors");
  writeSafetensors(path, tensors, { metadata: { step: "12" } });
  const bytes = readFileSync(path);
  const hlen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  assert.equal(hlen % 8, 0);
  const headerText = bytes.subarray(8, 8 + hlen).toString("utf8");
  assert.match(headerText, /^\{"__metadata__":\{"format":"pt","step":"12"\},"alpha":\{"dtype":"F32","shape":\[7\],"data_offsets":\[0,28\]\},"mid\.weight":/);
  assert.match(headerText, /\} *$/);
  const loaded = readSafetensors(path);
  assert.deepEqual([...loaded.tensors.keys()], ["alpha", "mid.weight", "zeta"]);
  for (const [name, t] of tensors) {
    const got = loaded.tensors.get(name)!;
    assert.deepEqual(got.shape, t.shape);
    assert.deepEqual(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength), new Uint8Array(t.data.buffer));
  }
  assert.deepEqual(Buffer.from(encodeSafetensors(tensors, { metadata: { step: "12" } })), bytes);
  // No temporary files left behind.
  assert.deepEqual(readdirSync(tmp).filter((f) => f.includes(".tmp-")), []);
});

test("bf16 writing rounds to nearest even and reads back exactly", () => {
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie -> even (down)
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie -> even (up)
  assert.equal(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81);
  assert.equal(f32ToBf16Bits(NaN) & 0x7fc0, 0x7fc0);
  assert.equal(bf16BitsToF32(0xbf80), -1);
  const data = randomTensor(1000, 3);
  const bytes = encodeSafetensors({ w: { shape: [10, 100], data } }, { dtype: "BF16" });
  const back = decodeSafetensors(bytes).tensors.get("w")!;
  assert.equal(back.dtype, "BF16");
  for (let i = 0; i < data.length; i++) assert.equal(back.data[i], bf16BitsToF32(f32ToBf16Bits(data[i]!)));
});

test("writer rejects a shape that does not match the data", () => {
  assert.throws(() => encodeSafetensors({ w: { shape: [2, 3], data: new Float32Array(5) } }), /tensor "w" has 5 values but shape \[2, 3\] needs 6/);
});

test("sharded writing and index reading", () => {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (let i = 0; i < 5; i++) tensors.set(`t${i}`, { shape: [10], data: randomTensor(10, 10 + i) });
  const dir = join(tmp, "sharded");
  const files = writeSafetensorsShards(dir, tensors, { maxShardBytes: 100 });
  assert.deepEqual(files, [
    "model-00001-of-00003.safetensors",
    "model-00002-of-00003.safetensors",
    "model-00003-of-00003.safetensors",
    "model.safetensors.index.json",
  ]);
  const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8"));
  assert.deepEqual(index.metadata, { total_size: 200 });
  assert.equal(index.weight_map.t0, "model-00001-of-00003.safetensors");
  assert.equal(index.weight_map.t2, "model-00002-of-00003.safetensors");
  assert.equal(index.weight_map.t4, "model-00003-of-00003.safetensors");
  const loaded = readShardedSafetensors(join(dir, "model.safetensors.index.json"));
  assert.equal(loaded.tensors.size, 5);
  for (const [name, t] of tensors) assert.deepEqual(loaded.tensors.get(name)!.data, t.data);

  // An index naming a tensor its shard does not hold.
  const bad = join(tmp, "sharded-bad");
  writeSafetensorsShards(bad, tensors, { maxShardBytes: 100 });
  const idx = JSON.parse(readFileSync(join(bad, "model.safetensors.index.json"), "utf8"));
  idx.weight_map.t0 = "model-00002-of-00003.safetensors";
  writeFileSync(join(bad, "model.safetensors.index.json"), JSON.stringify(idx));
  assert.throws(() => readShardedSafetensors(join(bad, "model.safetensors.index.json")), /tensor "t0" is mapped to model-00002-of-00003\.safetensors, which does not contain it/);
  idx.weight_map.t0 = "../escape.safetensors";
  writeFileSync(join(bad, "model.safetensors.index.json"), JSON.stringify(idx));
  assert.throws(() => readShardedSafetensors(join(bad, "model.safetensors.index.json")), /tensor "t0": shard must be a plain file name/);
  writeFileSync(join(bad, "model.safetensors.index.json"), "{}");
  assert.throws(() => readShardedSafetensors(join(bad, "model.safetensors.index.json")), /"weight_map" must be an object/);
});

test("a small model fits in one model.safetensors", () => {
  const dir = join(tmp, "single");
  assert.deepEqual(writeSafetensorsShards(dir, { a: { shape: [1], data: new Float32Array([1]) } }), ["model.safetensors"]);
});

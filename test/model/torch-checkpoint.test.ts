import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTorchCheckpoint, readTorchStateDict, writeTorchStateDict } from "../../src/model/torch-checkpoint.ts";
import { openZip, zipWriter } from "../../src/model/torch-zip.ts";
import { bf16BitsToF32, f32ToBf16Bits } from "../../src/model/safetensors.ts";
import { UserError } from "../../src/util/errors.ts";

const FIX = "test/fixtures/torch";
const tmp = mkdtempSync(join(tmpdir(), "torch-ckpt-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

interface Expected {
  shape: number[];
  dtype: string;
  data: number[];
}
const expected = JSON.parse(readFileSync(join(FIX, "tensors.json"), "utf8")) as Record<string, Expected>;
const DTYPES: Record<string, string> = { float32: "F32", bfloat16: "BF16", float16: "F16", float64: "F64", int64: "I64", bool: "BOOL" };

test("a state dict written by torch.save reads to torch's values: every dtype, views, offsets, shared storages", () => {
  const { tensors, key } = readTorchStateDict(join(FIX, "tensors.pt"));
  assert.equal(key, "");
  assert.deepEqual([...tensors.keys()], Object.keys(expected));
  for (const [name, e] of Object.entries(expected)) {
    const t = tensors.get(name)!;
    assert.deepEqual(t.shape, e.shape, name);
    assert.equal(t.dtype, DTYPES[e.dtype], name);
    // Values are float32 decimals of the stored values; f64 is compared after rounding to float32.
    assert.deepEqual([...t.data], e.data.map((v) => Math.fround(v)), name);
  }
  // The transposed view really is the transpose of f32's storage, and the slice starts at storage offset 8.
  const f = tensors.get("f32")!.data;
  assert.equal(tensors.get("transposed")!.data[1], f[6]);
  assert.equal(tensors.get("sliced")!.data[0], f[8]);
});

test("the zip layer finds torch's archive folder and members", () => {
  const a = openTorchCheckpoint(join(FIX, "tensors.pt"));
  try {
    assert.equal(a.prefix, "tensors");
  } finally {
    a.close();
  }
  const z = openZip(join(FIX, "tensors.pt"));
  try {
    assert.ok(z.members.has("tensors/data.pkl"));
    assert.ok(z.members.has("tensors/version"));
    // torch aligns storage data to 64 bytes; the reader found each member's data after its local header.
    for (const m of z.members.values()) if (m.name.includes("/data/")) assert.equal(m.dataStart % 64, 0, m.name);
  } finally {
    z.close();
  }
});

function throwsUser(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof UserError && re.test(e.message));
}

test("a global outside the allow-list is refused by name, and nothing runs", () => {
  throwsUser(() => readTorchStateDict(join(FIX, "global.pt")), /global\.pt: global\/data\.pkl: byte \d+: refers to the Python global __builtin__\.print/);
});

test("an unsupported element type is named with the entry's file", () => {
  throwsUser(() => readTorchStateDict(join(FIX, "complex.pt")), /complex\.pt: .*torch\.ComplexFloatStorage is not supported/);
});

test("truncated and corrupted archives are reported with the file and the member", () => {
  const bytes = readFileSync(join(FIX, "tensors.pt"));
  const z = openZip(join(FIX, "tensors.pt"));
  const member = z.members.get("tensors/data/0")!;
  const last = [...z.members.values()].filter((m) => m.name.includes("/data/")).sort((a, b) => b.dataStart - a.dataStart)[0]!;
  z.close();
  // Cut inside the last storage: the directory is gone, and the member the file ends in is named.
  const cut = join(tmp, "cut.pt");
  writeFileSync(cut, bytes.subarray(0, last.dataStart + 3));
  throwsUser(() => readTorchStateDict(cut), new RegExp(`cut\\.pt: no end of central directory record: a truncated zip archive .*"${last.name}"`));
  const flipped = Buffer.from(bytes);
  flipped[member.dataStart + 5] = flipped[member.dataStart + 5]! ^ 0xff;
  const bad = join(tmp, "flipped.pt");
  writeFileSync(bad, flipped);
  throwsUser(() => readTorchStateDict(bad), /flipped\.pt: member "tensors\/data\/0" is corrupted: CRC-32/);
  writeFileSync(join(tmp, "junk.pt"), Buffer.alloc(100, 7));
  throwsUser(() => readTorchStateDict(join(tmp, "junk.pt")), /junk\.pt: no end of central directory record: not a zip archive/);
});

/** A torch-style archive whose data.pkl is `pkl`, written with the toolkit's zip writer. */
function craft(path: string, pkl: Uint8Array): string {
  const fd = openSync(path, "w");
  const zw = zipWriter(fd);
  zw.add("crafted/data.pkl", pkl);
  zw.add("crafted/version", new TextEncoder().encode("3\n"));
  zw.finish();
  closeSync(fd);
  return path;
}

test("an opcode outside the interpreted subset is refused with its byte offset", () => {
  // PROTO 2, EMPTY_DICT, then 0x49 (INT, text form: never written by torch.save), STOP.
  const path = craft(join(tmp, "crafted.pt"), Uint8Array.from([0x80, 2, 0x7d, 0x49, 0x31, 0x0a, 0x2e]));
  throwsUser(() => readTorchStateDict(path), /crafted\.pt: crafted\/data\.pkl: byte 3: pickle opcode 0x49 is not one this reader interprets/);
  const evil = Buffer.from("\x80\x02cos\nsystem\n)R.", "latin1");
  throwsUser(() => readTorchStateDict(craft(join(tmp, "os.pt"), evil)), /byte 2: refers to the Python global os\.system/);
  // getattr is allowed only for the members of an allowed enum.
  const ga = Buffer.from("\x80\x02c__builtin__\ngetattr\nccollections\nOrderedDict\nX\x08\x00\x00\x00fromkeys\x86R.", "latin1");
  throwsUser(() => readTorchStateDict(craft(join(tmp, "getattr.pt"), ga)), /getattr\(ordered-dict, "fromkeys"\) is not allowed/);
  // Storages written on a big-endian machine (torch 2 says so in a member) are refused by name.
  const be = join(tmp, "be.pt");
  const fd = openSync(be, "w");
  const zw = zipWriter(fd);
  zw.add("be/data.pkl", Uint8Array.from([0x80, 2, 0x7d, 0x2e]));
  zw.add("be/byteorder", new TextEncoder().encode("big"));
  zw.finish();
  closeSync(fd);
  throwsUser(() => readTorchStateDict(be), /be\.pt: member "be\/byteorder" says "big"; only little-endian/);
  const noStop = Uint8Array.from([0x80, 2, 0x7d]);
  throwsUser(() => readTorchStateDict(craft(join(tmp, "nostop.pt"), noStop)), /ends without STOP \(truncated\)/);
});

test("DeepSpeed bookkeeping reads as data: the ZeRO stage enum as its value, the loss scaler as an inert record, a set", () => {
  const dir = join(FIX, "deepspeed-zero3", "global_step5");
  const optim = openTorchCheckpoint(join(dir, "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"));
  const model = openTorchCheckpoint(join(dir, "zero_pp_rank_1_mp_rank_00_model_states.pt"));
  try {
    const osd = (optim.root as Map<string, unknown>).get("optimizer_state_dict") as Map<string, unknown>;
    assert.equal(osd.get("zero_stage"), 3);
    assert.deepEqual(osd.get("loss_scaler"), {
      kind: "object",
      className: "deepspeed.runtime.fp16.loss_scaler.LossScaler",
      args: [],
      state: new Map<string, unknown>([["cur_scale", 1], ["dynamic", false]]),
    });
    const m = model.root as Map<string, unknown>;
    assert.deepEqual(m.get("sparse_tensor_module_names"), []);
    assert.deepEqual((m.get("param_shapes") as Map<string, unknown>[])[0]!.get("Reasoner.model.embed_tokens.weight"), [97, 16]);
  } finally {
    optim.close();
    model.close();
  }
});

test("writer -> reader: f32 exactly, bf16 rounded to nearest even, names in order", () => {
  const a = Float32Array.from({ length: 12 }, (_, i) => (i - 5) * 0.1234567);
  const b = Float32Array.from([1, -2, 3.3]);
  const path = join(tmp, "pytorch_model.bin");
  writeTorchStateDict(path, new Map([["w.a", { shape: [3, 4], data: a }], ["w.b", { shape: [3], data: b }]]));
  const back = readTorchStateDict(path).tensors;
  assert.deepEqual([...back.keys()], ["w.a", "w.b"]);
  assert.deepEqual(back.get("w.a")!.shape, [3, 4]);
  assert.deepEqual([...back.get("w.a")!.data], [...a]);
  assert.equal(back.get("w.a")!.dtype, "F32");
  const p16 = join(tmp, "bf16.bin");
  writeTorchStateDict(p16, { x: { shape: [12], data: a } }, { dtype: "BF16" });
  const x = readTorchStateDict(p16).tensors.get("x")!;
  assert.equal(x.dtype, "BF16");
  assert.deepEqual([...x.data], [...a].map((v) => bf16BitsToF32(f32ToBf16Bits(v))));
  // The zip64 records (used past 4 GiB) read back the same, forced here on a small file.
  const p64 = join(tmp, "zip64.bin");
  writeTorchStateDict(p64, new Map([["w.a", { shape: [3, 4], data: a }], ["w.b", { shape: [3], data: b }]]), { zip64: true });
  const z64 = readTorchStateDict(p64).tensors;
  assert.deepEqual([...z64.get("w.a")!.data], [...a]);
  assert.deepEqual([...z64.get("w.b")!.data], [...b]);
  assert.ok(readFileSync(p64).includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), "zip64 end of central directory record");
  const wrong = () => writeTorchStateDict(join(tmp, "w.bin"), { x: { shape: [5], data: b } });
  throwsUser(wrong, /tensor "x" has 3 values but shape \[5\] needs 5/);
});

// `flythinker quantize --model DIR --out DIR --bits 4|8 [--block N] [--zero-points] [--force]`: writes the weights of
// a model folder (plain HF, or a `flythinker train` output: both models) quantized for decoding, so that loading does
// not redo the work (docs/decoding.md, Quantized decoding).
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../util/errors.ts";
import { LoadedModel } from "../../model/loaded-model.ts";
import { describeScheme, quantScheme, tensorBytes } from "../../model/quantize.ts";
import { isQuantizedFolder, saveQuantizedFolder } from "../../model/quantized-folder.ts";
import { loadQuantizedCheckpoint } from "../../model/quantize-load.ts";
import { parameterCount } from "../../model/config.ts";
import { MANIFEST_FILE } from "../../flythinker/manifest.ts";
import { quantizePair, readAnyTrainedModel, writeQuantizedTrained } from "../../flythinker/quantize-pair.ts";
import { output } from "./model.ts";

interface QuantizeCommandFlags {
  model: string;
  out: string;
  bits: string;
  block: string;
  zeroPoints?: boolean;
  force?: boolean;
}

function schemeOf(o: QuantizeCommandFlags) {
  if (o.bits !== "4" && o.bits !== "8") throw new UserError(`--bits must be 4 or 8, got "${o.bits}"`);
  if (!/^\d+$/.test(o.block.trim())) throw new UserError(`--block must be an integer, got "${o.block}"`);
  return quantScheme({ bits: Number(o.bits) as 4 | 8, blockSize: Number(o.block), symmetric: !o.zeroPoints }, "--block");
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MB`;

async function quantizeCommand(o: QuantizeCommandFlags): Promise<void> {
  const scheme = schemeOf(o);
  if (existsSync(o.out) && !o.force) throw new UserError(`--out ${o.out} already exists (use --force to replace it)`);
  const t0 = performance.now();
  if (existsSync(join(o.model, MANIFEST_FILE))) {
    const trained = readAnyTrainedModel(o.model);
    const before = tensorBytes(trained.generator) + (trained.reasoner ? tensorBytes(trained.reasoner) : 0);
    output.err(`quantizing ${o.model} (${trained.manifest.method}: ${trained.reasoner ? "Generator and Reasoner" : "Generator"}) to ${describeScheme(scheme)}...\n`);
    const q = quantizePair(trained, scheme, o.model, "--bits/--block");
    writeQuantizedTrained(o.out, o.model, q, scheme, o.force ?? false);
    const after = tensorBytes(q.generator) + (q.reasoner ? tensorBytes(q.reasoner) : 0);
    output.out(`wrote ${o.out}: ${describeScheme(scheme)}, weights ${mb(before)} -> ${mb(after)} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    return;
  }
  if (isQuantizedFolder(o.model)) {
    // Already quantized: the same scheme is a copy, another one is refused with what was found.
    const model = LoadedModel.fromDir(o.model).quantize(scheme);
    saveQuantizedFolder(o.out, model.config, scheme, model.weights, { tokenizerFrom: o.model, overwrite: o.force ?? false });
    output.out(`wrote ${o.out}: ${describeScheme(scheme)} (copied; ${o.model} was quantized so already)\n`);
    return;
  }
  const { config, tensors } = loadQuantizedCheckpoint(o.model, scheme, (name, done, total) => {
    if (done % 16 === 0 || done === total) output.err(`\r[${done}/${total}] ${name}`.padEnd(72));
  });
  output.err("\n");
  const before = 4 * parameterCount(config);
  saveQuantizedFolder(o.out, config, scheme, tensors, { tokenizerFrom: o.model, overwrite: o.force ?? false });
  output.out(`wrote ${o.out}: ${describeScheme(scheme)}, weights ${mb(before)} -> ${mb(tensorBytes(tensors))} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

export function register(program: Command): void {
  program
    .command("quantize")
    .description("Write a model folder (or a `flythinker train` output) with weights quantized for decoding (int8/int4 blocks)")
    .requiredOption("--model <dir>", "model folder (HF layout) or a folder written by `flythinker train`")
    .requiredOption("--out <dir>", "folder to write (loads with --model like any model folder)")
    .requiredOption("--bits <n>", "4 or 8")
    .option("--block <n>", "values per block along each weight row (a power of two >= 16)", "32")
    .option("--zero-points", "blocks with their own zero point (default: symmetric blocks)")
    .option("--force", "replace an existing --out folder")
    .action(quantizeCommand);
}

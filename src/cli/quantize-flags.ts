// `--quantize int8|int4` and `--quantize-block N`, shared by the commands that decode (generate, verify, bench decode).
import type { Command } from "commander";
import { UserError } from "../util/errors.ts";
import { DEFAULT_BLOCK_SIZE } from "../graph/quant.ts";
import { QUANTIZE_MODES, type QuantScheme, quantScheme } from "../model/quantize.ts";

export interface QuantizeFlags {
  quantize?: string;
  quantizeBlock?: string;
}

/** Adds the quantization flags to a command. */
export function addQuantizeFlags(cmd: Command): Command {
  return cmd
    .option("--quantize <mode>", `quantize the weights for decoding: ${QUANTIZE_MODES.join(" | ")} (weight-only, symmetric blocks)`)
    .option("--quantize-block <n>", `values per quantization block (a power of two >= 16; default ${DEFAULT_BLOCK_SIZE})`);
}

/** The scheme the flags ask for, or undefined without --quantize. */
export function quantizeFromFlags(o: QuantizeFlags): QuantScheme | undefined {
  if (o.quantize === undefined) {
    if (o.quantizeBlock !== undefined) throw new UserError("--quantize-block needs --quantize int8|int4");
    return undefined;
  }
  const bits = quantScheme(o.quantize as "int8", "--quantize").bits;
  let blockSize = DEFAULT_BLOCK_SIZE;
  if (o.quantizeBlock !== undefined) {
    if (!/^\d+$/.test(o.quantizeBlock.trim())) throw new UserError(`--quantize-block must be an integer, got "${o.quantizeBlock}"`);
    blockSize = Number(o.quantizeBlock);
  }
  return quantScheme({ bits, blockSize }, "--quantize-block");
}

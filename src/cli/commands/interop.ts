// Checkpoints of the PyTorch stack FlyThinker was published with:
//   import pytorch CKPT --out RUN [--lambda 0.5] [--generator-config DIR] [--reasoner-config DIR] [--force]
//   export pytorch RUN --out DIR [--dtype bf16|f32] [--format safetensors|bin] [--force]
import type { Command } from "commander";
import { UserError } from "../../util/errors.ts";
import { exportTorchPair, importTorchPair } from "../../flythinker/torch-pair.ts";
import { numberFlag } from "../flags.ts";

function source(s: string): void {
  if (s !== "pytorch") throw new UserError(`unknown checkpoint source "${s}"; expected pytorch`);
}

export function register(program: Command): void {
  program
    .command("import")
    .description("a Generator + Reasoner checkpoint of the PyTorch training code (pytorch_model.bin, model.safetensors or a DeepSpeed ZeRO folder) -> a trained folder")
    .argument("<source>", "pytorch")
    .argument("<ckpt>", "checkpoint folder (or its weights file)")
    .requiredOption("--out <dir>", "the trained folder to write (generator/, reasoner/, flythinker.json)")
    .option("--lambda <x>", "weight of the thought used in training (not stored in their checkpoints)", "0.5")
    .option("--generator-config <dir>", "the Generator's base model folder (default: generator_config.json beside the weights)")
    .option("--reasoner-config <dir>", "the Reasoner's base model folder (default: reasoner_config.json beside the weights)")
    .option("--force", "replace the output folder if it exists")
    .action((s: string, ckpt: string, o: { out: string; lambda: string; generatorConfig?: string; reasonerConfig?: string; force?: boolean }) => {
      source(s);
      const lambda = numberFlag(o.lambda, "--lambda");
      const r = importTorchPair(ckpt, o.out, {
        lambda,
        generatorConfig: o.generatorConfig,
        reasonerConfig: o.reasonerConfig,
        overwrite: o.force,
        log: (line) => console.error(line),
      });
      const dtypes = Object.entries(r.dtypes).map(([d, n]) => `${n} ${d}`).join(", ");
      console.log(`read ${r.source} (${r.format}): ${dtypes} tensors`);
      if (r.reasonerVocabPadded !== null) {
        console.log(`the Reasoner's embedding table (${r.reasonerVocabPadded} rows) was padded with zero rows to the Generator's vocabulary`);
      }
      console.log(`wrote ${o.out} (lambda ${lambda}, prefix fusion at every position, s = ${r.manifest.embedding_norm_scale!.toPrecision(6)})`);
    });

  program
    .command("export")
    .description("a FlyThinker trained folder -> weights with the PyTorch training module's key names, for its inference scripts")
    .argument("<target>", "pytorch")
    .argument("<run>", "a folder written by `flythinker train` or `flythinker import pytorch`")
    .requiredOption("--out <dir>", "output folder")
    .option("--dtype <d>", "stored dtype: bf16 | f32", "bf16")
    .option("--format <f>", "safetensors (model.safetensors) | bin (pytorch_model.bin)", "safetensors")
    .option("--force", "replace the output folder if it exists")
    .action((t: string, run: string, o: { out: string; dtype: string; format: string; force?: boolean }) => {
      source(t);
      if (o.dtype !== "bf16" && o.dtype !== "f32") throw new UserError(`--dtype must be bf16 or f32, got "${o.dtype}"`);
      if (o.format !== "safetensors" && o.format !== "bin") throw new UserError(`--format must be safetensors or bin, got "${o.format}"`);
      const r = exportTorchPair(run, o.out, {
        dtype: o.dtype === "bf16" ? "BF16" : "F32",
        format: o.format,
        overwrite: o.force,
        log: (line) => console.error(line),
      });
      console.log(`wrote ${o.out}: ${r.files.join(", ")}`);
      console.log(`run their inference scripts with --ckpt_path ${o.out} --lambda_diff ${r.lambda}`);
    });
}

// Every command module of the CLI. Add one line per module: `import { register as x } from "./x.ts";`
import type { Command } from "commander";
import { register as bench } from "./bench.ts";
import { register as data } from "./data.ts";
import { register as demo } from "./demo.ts";
import { register as evaluation } from "./eval.ts";
import { register as interop } from "./interop.ts";
import { register as merge } from "./merge.ts";
import { register as model } from "./model.ts";
import { register as serve } from "./serve.ts";
import { register as sweep } from "./sweep.ts";
import { register as quantize } from "./quantize.ts";
import { register as train } from "./train.ts";
import { register as verify } from "./verify.ts";

export type RegisterCommands = (program: Command) => void;

export const commandModules: RegisterCommands[] = [bench, data, demo, evaluation, interop, merge, model, quantize, serve, sweep, train, verify];

// The `flythinker` command line. Each area registers its commands from its own file in ./commands.
import { Command, CommanderError } from "commander";
import { commandModules } from "./commands/index.ts";
import { UserError } from "../util/errors.ts";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("flythinker")
    .description("Personalised long-form generation with on-the-fly latent reasoning (FlyThinker), on ONNX Runtime.")
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandModules) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof UserError) {
      console.error(`flythinker: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

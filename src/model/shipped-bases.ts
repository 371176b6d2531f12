// The repository's bases/ folder: the small Generator and Reasoner that the demo fine-tunes and `bench methods` times
// (bf16 HF folders sharing one tokenizer; how they were made is in bases/README.md).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const SHIPPED_BASES_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bases");

export const BASE_FOLDERS = { generator: "generator", reasoner: "reasoner" } as const;
export type BaseRole = keyof typeof BASE_FOLDERS;

// Worker-thread entry for the interference bench: load the TypeScript worker through tsx.
import { register } from "tsx/esm/api";

register();
await import("./interference-worker.ts");

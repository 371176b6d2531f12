// Worker-thread entry for the parallel Reasoner: load the TypeScript worker through tsx.
import { register } from "tsx/esm/api";

register();
await import("./reasoner-worker.ts");

// Worker-thread entry of a demo lane: load the TypeScript worker through tsx.
import { register } from "tsx/esm/api";

register();
await import("./lane-worker.ts");

// Coconut (continuous latent reasoning): the engine parts. Marker tokens (markers.ts), the stage-k layout
// (layout.ts), batch feeds (batch.ts), the training graph with the chain of thoughts (graph.ts), decoding through the
// generation session (decoder.ts) and the graph-vs-decoding check (verify.ts).
export { type CoconutExample, type LatentTokens, type StageOptions, inferencePrompt, stageExample, stagePlan } from "./layout.ts";
export { type CoconutBatch, coconutBatch } from "./batch.ts";
export { type CoconutGraphMode, type CoconutGraphOptions, type CoconutLossGraph, buildCoconutLossGraph } from "./graph.ts";
export { CoconutStepModel, type PromptSplit, splitAtLatents } from "./decoder.ts";
export { type CoconutPathDifferences, coconutDecodeLogits, coconutGraphLogits, compareCoconutPaths } from "./verify.ts";
export {
  COPY_FALLBACK_ID,
  COPY_TOKEN,
  LATENT_MARKERS,
  type MarkerResult,
  addLatentMarkers,
  checkNoMarkers,
  copySource,
  latentTokensOf,
  markerIds,
  withMarkerRows,
  withMarkerTokens,
} from "./markers.ts";

// Personalised data: canonical records, dataset folders, LongLaMP import, the offline mail task, BM25 retrieval and
// the prompt builder. Other parts of the project import from here.

export { type PersonalRecord, type ProfileItem, type Split, SPLITS, validateRecord, profileItemId } from "./record.ts";
export {
  type CardInput,
  type DatasetCard,
  type ReadIssue,
  type ReadOptions,
  type ReadResult,
  countUsers,
  readCard,
  readDataset,
  readDatasetSplits,
  readJsonl,
  splitFile,
  writeDataset,
  writeDirAtomic,
  writeJsonl,
} from "./io.ts";
export { type Distribution, type RecordStats, distribution, formatDistribution, percentile, recordStats } from "./stats.ts";
export { Bm25, type Bm25Options, ENGLISH_STOP_WORDS, retrievalTokens } from "./bm25.ts";
export { type TokenCounter, type Truncated, sentenceEnds, truncateToTokens, wordEnds } from "./truncate.ts";
export { TASK_TEMPLATES, type TaskTemplate, renderTemplate, templateFor } from "./templates.ts";
export {
  type BuiltPrompt,
  type ChatMessage,
  type ChatTemplateFn,
  DEFAULT_BUDGETS,
  DEFAULT_HISTORY_K,
  DEFAULT_RETRIEVAL,
  type PromptOptions,
  RETRIEVAL_MODES,
  type RetrievalMode,
  type TokenBudgets,
  buildPrompt,
  selectHistory,
} from "./prompt.ts";
export { type PromptBuildOptions, chatTemplateOf, endOfTargetId, recordPrompt } from "./prompt-ids.ts";
export {
  LONGLAMP_CONFIGS,
  LONGLAMP_TASKS,
  type LongLampConfig,
  type LongLampImport,
  type LongLampImportOptions,
  importLongLamp,
  longLampRecord,
} from "./longlamp.ts";
export {
  EMAIL_TASK,
  type EmailDataset,
  type EmailOptions,
  type EmailSplitRule,
  type EmailStats,
  type RawMail,
  buildEmailDataset,
  loadSpamAssassinHam,
} from "./email/prepare.ts";
export { prepareEmailDataset, importLongLampDataset, importFlyThinkerJsonDataset } from "./build.ts";
export { PREBUILT_HISTORY_TASK, flyThinkerJsonRecord, importFlyThinkerJson } from "./flythinker-json.ts";

// Evaluation: metrics equal to the Python references HF `evaluate` uses (rouge_score ROUGE-1/L, sacreBLEU corpus BLEU,
// nltk METEOR), position-sensitive scores, bootstrap statistics, reports with SVG plots.
export { scoreAll, scoreSample, scoreSegments, aggregate, segmentText, segmentLabel, DEFAULT_SEGMENTS, METRICS, METRIC_LABELS } from "./score.ts";
export type { ScoreAllResult, SampleScores, ScoreOptions, MetricName, MetricValues, Segment, SegmentSamples } from "./score.ts";
export { rougeScore, rougeTokenize, rougeN, rougeL, lcsLength, type PRF, type RougeOptions } from "./rouge.ts";
export { corpusBleu, tokenize13a, bleuSegmentStats, bleuFromStats, sumStats, type BleuResult, type BleuStats } from "./bleu.ts";
export { meteorScore, meteorFromTokens, type MeteorOptions, type MeteorDetail } from "./meteor.ts";
export { wordTokenize, punktSentences, treebankTokenize } from "./word-tokenize.ts";
export { porterStem } from "./porter.ts";
export { WordNet, getWordNet, type WordNetSource } from "./wordnet.ts";
export { bootstrapInterval, pairedBootstrap, type BootstrapOptions, type Interval, type PairedResult } from "./bootstrap.ts";
export { evaluateRuns, renderMarkdown, renderPlots, writeEvalReport, type EvalResult, type MethodResult, type RunInput, type EvaluateOptions } from "./report.ts";
export { readPredictionRecords, readPredictionsAndReferences, type PredictionRecord } from "./io.ts";
export { lineChart, barChart, escapeXml, type LineChartOptions, type BarChartOptions, type LineSeries, type BarSeries } from "../util/svg.ts";
export { BertScorer, DEFAULT_LAYERS, type BertScoreOptions, type BertScoreResult } from "./bertscore/scorer.ts";
export { greedyMatch, IdfWeights, plainWeights, maxOver, normalize, type PRF3, type TokenVectors } from "./bertscore/match.ts";
export { readBaseline, parseBaseline, formatBaseline, rescale, type BaselineRow } from "./bertscore/rescale.ts";
export { computeBaseline, baselinePairs, baselineTexts } from "./bertscore/baseline.ts";
export { averageRelativeImprovement, type Improvement } from "./improvement.ts";

// CoT self-training's reward (ReST-EM, REST-PG): the mean of ROUGE-1 and ROUGE-L F1 of an answer against the
// reference, with the tokenizer `flythinker eval` scores with (no stemmer unless asked).
import { rougeScore } from "./rouge.ts";

export function rougeReward(prediction: string, reference: string, opts: { stemmer?: boolean } = {}): number {
  const s = rougeScore(reference, prediction, opts);
  return (s.rouge1.fmeasure + s.rougeL.fmeasure) / 2;
}

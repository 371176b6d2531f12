// CoT self-training's reward (ReST-EM, REST-PG): the mean of ROUGE-1 and ROUGE-L F1 of an answer against the
// reference, with Porter stemming as REST-PG's reward uses it (rouge_score's use_stemmer=True; `stemmer: false`
// scores as `flythinker eval` does by default).
import { rougeScore } from "./rouge.ts";

export function rougeReward(prediction: string, reference: string, opts: { stemmer?: boolean } = {}): number {
  const s = rougeScore(reference, prediction, { stemmer: opts.stemmer ?? true });
  return (s.rouge1.fmeasure + s.rougeL.fmeasure) / 2;
}

// CoT (REST-PG layout): the target is a style summary of the user (the reasoning), a separator, then the answer; only
// the answer (the text after the last separator) is scored. The prompt carries REST-PG's instruction before the
// user message (PromptOptions.instruction).

export const COT_INSTRUCTION =
  "The following context is written by a specific user. Please use the following context to generate a personalized response to the instruction. " +
  "Your response should follow the same pattern in terms of preferences and writing style in the provided context. " +
  "You should first summarize the writing style of the user based on the provided context. " +
  "Then, you should use the summarized writing style to generate a response to the instruction.";

export const COT_PREFIX = "To summarize the writing style of the user, we can consider the following aspects:";
export const COT_SEPARATOR = "Now, considering the style summary, we can generate the final answer:";

/** Reasoning steps as the bullets of a rationale, one a line. */
export function bullets(steps: readonly string[]): string {
  return steps.map((s) => `- ${s}`).join("\n");
}

/** The steps of a rationale text: one a line, bullet marks ("-", "*", "•") dropped, blank lines skipped. */
export function stepsOf(rationale: string): string[] {
  return rationale
    .split(/\r?\n/)
    .map((l) => l.trim().replace(/^(?:[-*•]\s+)/, ""))
    .filter((l) => l !== "");
}

/**
 * A CoT target: prefix, the rationale, the separator and the answer. `separator: false` joins rationale and answer
 * alone (so an empty rationale gives the answer itself: SFT's target).
 */
export function formatCot(rationale: string, answer: string, opts: { separator?: boolean } = {}): string {
  if (opts.separator === false) return rationale + answer;
  return `${COT_PREFIX}\n${rationale}\n\n${COT_SEPARATOR} ${answer}`;
}

export interface ParsedAnswer {
  answer: string;
  /** No separator in the text: the answer is the whole text. */
  parseFailed: boolean;
}

/** The answer in a CoT output: the text after the last separator (one space after it dropped), else the whole text. */
export function parseAnswer(text: string): ParsedAnswer {
  const at = text.lastIndexOf(COT_SEPARATOR);
  if (at < 0) return { answer: text, parseFailed: true };
  const rest = text.slice(at + COT_SEPARATOR.length);
  return { answer: rest.startsWith(" ") ? rest.slice(1) : rest, parseFailed: false };
}

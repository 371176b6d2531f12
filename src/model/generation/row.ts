// One row of a generation: its seeded sampler, the ids it has seen, its streamed text, and what happens when a token
// is chosen for it (a stop id ends it without joining the output; otherwise the token is added and the stopping
// criteria decide). The batch session and the continuous batcher both keep their rows as these.
import type { TextTokenizer } from "../../tokenizer/tokenizer.ts";
import { Rng } from "../../util/random.ts";
import type { StoppingCriteria, FinishReason } from "./stopping.ts";
import { TextAssembler } from "./text.ts";

/** One streamed piece: the token just generated and the text that became final with it. */
export interface GeneratedPiece {
  /** The token id; null for the closing piece that carries text held back until the end. */
  id: number | null;
  text: string;
}

export class GenerationRow {
  readonly rng: Rng;
  /** Prompt and generated ids (what the repetition penalty looks at). */
  readonly history: number[];
  /** Generated ids (without a stop id). */
  readonly ids: number[] = [];
  private readonly assembler: TextAssembler;
  finish: FinishReason | null = null;

  constructor(prompt: readonly number[], seed: number, tokenizer: TextTokenizer | null, stops: readonly string[]) {
    this.rng = new Rng(seed);
    this.history = [...prompt];
    this.assembler = new TextAssembler(tokenizer, stops);
  }

  /** The text so far (cut before a stop string). */
  get text(): string {
    return this.assembler.text;
  }

  /** Takes the token chosen for this row: the piece it makes, and why the row ends (absent while it goes on). */
  accept(id: number, criteria: StoppingCriteria): { piece: GeneratedPiece; finish?: FinishReason } {
    if (criteria.isStopId(id)) {
      this.finish = "eos";
      return { piece: { id: null, text: this.assembler.flush() }, finish: "eos" };
    }
    this.ids.push(id);
    this.history.push(id);
    let text = this.assembler.push(id);
    this.finish = criteria.afterToken(this.ids.length, this.assembler.stopped);
    if (this.finish === "length") text += this.assembler.flush();
    return this.finish ? { piece: { id, text }, finish: this.finish } : { piece: { id, text } };
  }
}

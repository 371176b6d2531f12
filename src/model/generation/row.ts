// One row of a generation: the ids it has seen, its streamed text, and what happens when a token
// is chosen for it (a stop id ends it without joining the output; otherwise the token is added and the stopping
// criteria decide), as in the batch session's loop. The continuous batcher keeps its rows as these.
import type { TextTokenizer } from "../../tokenizer/tokenizer.ts";
import type { StoppingCriteria, FinishReason } from "./stopping.ts";
import { TextAssembler } from "./text.ts";
import type { GeneratedPiece } from "./session.ts";

export class GenerationRow {
  /** Prompt and generated ids (what the repetition penalty looks at). */
  readonly history: number[];
  /** Generated ids (without a stop id). */
  readonly ids: number[] = [];
  private readonly assembler: TextAssembler;
  finish: FinishReason | null = null;

  constructor(prompt: readonly number[], tokenizer: TextTokenizer | null, stops: readonly string[]) {
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

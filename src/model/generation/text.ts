// Streaming text: a token's text is handed out once it is certain, i.e. not inside an incomplete UTF-8 character and
// not possibly the start of a stop string. A stop string ends the text and is not part of it.
import { StreamingDecoder, type TextTokenizer } from "../../tokenizer/tokenizer.ts";
import { UserError } from "../../util/errors.ts";

/** Turns ids into final text pieces, holding back what may still change (partial characters, stop-string starts). */
export class TextAssembler {
  private pending = "";
  private readonly stream: StreamingDecoder | null;
  text = "";
  stopped = false;

  constructor(tokenizer: TextTokenizer | null, private readonly stops: readonly string[] = []) {
    if (stops.length && !tokenizer) throw new UserError("stop strings need a tokenizer");
    if (stops.some((s) => s.length === 0)) throw new UserError("stop strings must not be empty");
    this.stream = tokenizer ? new StreamingDecoder(tokenizer, { skipSpecialTokens: true }) : null;
  }

  /** Adds a token; returns the text that became final. After a stop string is seen, `stopped` is true. */
  push(id: number): string {
    if (!this.stream || this.stopped) return "";
    this.pending += this.stream.push(id);
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      return this.emit(this.pending.slice(0, cut));
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    return this.emit(this.pending.slice(0, this.pending.length - hold), hold);
  }

  /** Everything still held back (at the end of generation). */
  flush(): string {
    if (!this.stream || this.stopped) return "";
    this.pending += this.stream.flush();
    return this.emit(this.pending);
  }

  private emit(text: string, keep = 0): string {
    this.pending = keep > 0 ? this.pending.slice(this.pending.length - keep) : "";
    this.text += text;
    return text;
  }
}

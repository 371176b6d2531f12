// A bounded memo for pure functions of a string: results are kept while the keys held total at most `maxChars`
// characters, the least recently used key going first. Callers must not mutate what they get back (hand out a copy
// when they might).

export class StringMemo<V> {
  private readonly map = new Map<string, V>();
  private chars = 0;

  constructor(readonly maxChars: number) {
    if (!Number.isInteger(maxChars) || maxChars < 1) throw new Error(`StringMemo size must be a positive integer, got ${maxChars}`);
  }

  /** Keys held, and their characters in all. */
  get size(): { keys: number; chars: number } {
    return { keys: this.map.size, chars: this.chars };
  }

  /** The value for `key`, computing it and keeping it when not held (a key longer than the whole memo is not kept). */
  get(key: string, compute: (key: string) => V): V {
    const held = this.map.get(key);
    if (held !== undefined) {
      // most recently used goes last
      this.map.delete(key);
      this.map.set(key, held);
      return held;
    }
    const v = compute(key);
    if (key.length > this.maxChars) return v;
    this.map.set(key, v);
    this.chars += key.length;
    for (const old of this.map.keys()) {
      if (this.chars <= this.maxChars) break;
      this.map.delete(old);
      this.chars -= old.length;
    }
    return v;
  }
}

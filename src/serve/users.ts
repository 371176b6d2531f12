// Whose history a request uses: the users of a dataset (--data: a dataset folder or a JSONL file of records). A user's
// history and task are those of their first record, looked up in the test split first (the records
// `generate --data` predicts), then val, then train.
import { existsSync, statSync } from "node:fs";
import { readDataset, readDatasetSplits } from "../data/io.ts";
import type { PersonalRecord } from "../data/record.ts";
import { UserError } from "../util/errors.ts";

export class UserHistories {
  private constructor(private readonly byUser: ReadonlyMap<string, PersonalRecord>) {}

  static async load(path: string): Promise<UserHistories> {
    if (!existsSync(path)) throw new UserError(`--data: ${path}: no such file or folder`);
    let records: PersonalRecord[];
    if (statSync(path).isDirectory()) {
      const { splits } = await readDatasetSplits(path);
      records = [...(splits.test ?? []), ...(splits.val ?? []), ...(splits.train ?? [])];
    } else {
      records = (await readDataset(path)).records;
    }
    const byUser = new Map<string, PersonalRecord>();
    for (const r of records) if (!byUser.has(r.user)) byUser.set(r.user, r);
    if (byUser.size === 0) throw new UserError(`--data: ${path} holds no records`);
    return new UserHistories(byUser);
  }

  /** The record that stands for a user (their task and history), or undefined. */
  record(user: string): PersonalRecord | undefined {
    return this.byUser.get(user);
  }

  get users(): string[] {
    return [...this.byUser.keys()];
  }
}

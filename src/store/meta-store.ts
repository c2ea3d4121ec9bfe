import type { Entry } from "../core/entry.ts";

/** A new state for a path, before the journal gives it a sequence number. */
export type EntryDraft = Omit<Entry, "version">;

/**
 * The journal and the current entry per path. Sync logic (server/commit.ts) is written against
 * these primitives only, so a networked database can stand in for the embedded one.
 */
export interface MetaStore {
  readonly serverId: string;
  head(): number;
  /** Runs `fn` atomically: all of its appends land, or none do. */
  transaction<T>(fn: () => T): T;
  get(path: string): Entry | undefined;
  /** Live (not deleted) entries strictly inside `folder`, in path order. */
  liveChildren(folder: string): Entry[];
  /** Appends to the journal and makes the result the path's current entry. */
  append(draft: EntryDraft): Entry;
  /** Current entries changed after `since`, oldest first. */
  changesSince(since: number, limit: number): Entry[];
  close(): void;
}

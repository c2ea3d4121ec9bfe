import type { Entry } from "../core/entry.ts";

/** A new state for a path, before the journal gives it a sequence number. */
export type EntryDraft = Omit<Entry, "version">;

/** Who made a commit and when (server clock, ms since the epoch): every journal row records both, for history. */
export interface CommitStamp {
  clientId: string;
  at: number;
  /** Why the rows were written when it was not an upload: a restore (issue 12) marks its rows so history can say so. */
  cause?: "restore";
}

/** A journal row as history tells it: the entry and its stamp (null in rows from before stamps were kept). */
export interface JournalRecord extends Entry {
  committedAt: number | null;
  clientId: string | null;
  cause: "restore" | null;
}

export interface HistoryQuery {
  /** A path, or "" for the whole share. */
  path: string;
  /** Rows of every path inside `path` too (a folder's history), not only of `path` itself. */
  below: boolean;
  /** Only rows with a lower seq: the next page after a page ending at `before`. */
  before?: number;
  limit: number;
}

/** A page of the trash: deletions at or inside `path` ("" for the whole share), newest first. */
export type TrashQuery = Omit<HistoryQuery, "below">;

/** A deleted file (or folder, or link) that is still in the journal: its tombstone and the last live version before it. */
export interface TrashItem {
  deleted: JournalRecord;
  last: JournalRecord;
}

/** A journal row as retention weighs it (core/retention.ts). */
export interface VersionRow {
  seq: number;
  path: string;
  committedAt: number | null;
  deleted: boolean;
  /** The path's current row (its entry points at it). */
  current: boolean;
}

/** Reads and appends inside one transaction: what it reads is what the commit is checked against. */
export interface MetaTx {
  /** The journal's last sequence number, including this transaction's appends so far. */
  head(): Promise<number>;
  get(path: string): Promise<Entry | undefined>;
  /** Live (not deleted) entries strictly inside `folder`, in path order. */
  liveChildren(folder: string): Promise<Entry[]>;
  /** Bytes of the live files, this transaction's appends included: what a quota limits. */
  liveBytes(): Promise<number>;
  /** Appends to the journal, stamped with the transaction's `CommitStamp`, and makes the result the path's current entry. */
  append(draft: EntryDraft): Promise<Entry>;
  /** Every row of the journal as retention weighs it, oldest first (garbage collection, issue 12). */
  versions(): Promise<VersionRow[]>;
  /**
   * Removes journal rows chosen by retention; unknown seqs are ignored. A path whose current row
   * goes loses its entry and every older row (only a tombstone may go so: a current live row is
   * refused with "internal", as it is what clients sync; and a surviving older row would look
   * current to `treeAt`). Raises `prunedThrough` to the highest seq removed.
   */
  drop(seqs: readonly number[]): Promise<void>;
  /** Every block hash some row of the journal (as this transaction sees it) refers to. */
  referencedBlocks(): Promise<Set<string>>;
}

/**
 * One share's journal and the current entry per path. Every method is async so that a
 * networked database can implement it; sync logic (server/commit.ts) uses nothing else.
 */
export interface MetaStore {
  /** Stable for the life of the journal: a client that sees another id rebases (client/sync-engine.ts). */
  readonly serverId: string;
  head(): Promise<number>;
  get(path: string): Promise<Entry | undefined>;
  /** Bytes of the live files (sum of the sizes of current entries that are files and not deleted). */
  liveBytes(): Promise<number>;
  /** Current entries changed after `since`, oldest first. */
  changesSince(since: number, limit: number): Promise<Entry[]>;
  /**
   * Runs `fn` atomically: all of its appends land, or none do. Transactions on one store run
   * one at a time, so sequence order is commit order.
   */
  transaction<T>(stamp: CommitStamp, fn: (tx: MetaTx) => Promise<T>): Promise<T>;
  /** The highest seq retention removed (0 when none): a cursor below it has missed rows. */
  prunedThrough(): Promise<number>;
  /** Journal rows of `path` (with `below`, at or inside it; "" and `below`: the whole share), newest first. */
  history(q: HistoryQuery): Promise<JournalRecord[]>;
  /**
   * The live entries at or inside `path` ("" for the whole share) as they were right after row
   * `seq` (each path's newest retained row up to `seq`), in path order: what a restore brings back.
   */
  treeAt(path: string, seq: number): Promise<Entry[]>;
  /** The journal's head as it was at time `at` (server ms): rows stamped later are after it; unstamped rows are older than any time. */
  seqAt(at: number): Promise<number>;
  /** Paths whose current row is a deletion, each with its last live version (a path moved away is not in the trash). */
  trash(q: TrashQuery): Promise<TrashItem[]>;
  /** Remembers a client's host name (said at hello), for history to show. */
  noteClient(clientId: string, host: string): Promise<void>;
  /** The host names known for `clientIds` (unknown ones are left out). */
  clientHosts(clientIds: readonly string[]): Promise<Map<string, string>>;
  /** This backend's own consistency (what the interface cannot see), as plain sentences; [] when sound. */
  check(): Promise<string[]>;
  close(): Promise<void>;
}

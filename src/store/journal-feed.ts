import type { WireEntry } from "../core/block-splice.ts";

/** One commit to a share's journal, as sessions push it: changes (from, head], block lists as splices where shorter. */
export interface CommitNotice {
  from: number;
  head: number;
  entries: WireEntry[];
}

/**
 * How sessions hear of commits. In one process (SQLite) a commit is handed from the committer
 * to the subscribers; a networked database replaces this with its own notifications (LISTEN/
 * NOTIFY) without sessions changing.
 */
export interface JournalFeed {
  publish(share: string, notice: CommitNotice): void;
  /**
   * Calls `listener` for every later commit to `share` whose head is past `afterSeq`, in commit
   * order. A notice whose `from` is past what the listener has seen means it missed some: it
   * pulls. Returns the unsubscribe function.
   */
  subscribe(share: string, afterSeq: number, listener: (notice: CommitNotice) => void): () => void;
}

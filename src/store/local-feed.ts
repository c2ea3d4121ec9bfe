import type { CommitNotice, JournalFeed } from "./journal-feed.ts";

interface Subscriber {
  seen: number;
  listener: (notice: CommitNotice) => void;
}

/** The journal feed of one process: a commit is handed straight to the subscribers of its share. */
export class LocalFeed implements JournalFeed {
  private readonly shares = new Map<string, Set<Subscriber>>();

  publish(share: string, notice: CommitNotice): void {
    // A copy: a listener may unsubscribe (or subscribe another) while it is called.
    for (const s of [...(this.shares.get(share) ?? [])]) {
      if (notice.head <= s.seen) continue;
      s.seen = notice.head;
      s.listener(notice);
    }
  }

  subscribe(share: string, afterSeq: number, listener: (notice: CommitNotice) => void): () => void {
    const s: Subscriber = { seen: afterSeq, listener };
    let set = this.shares.get(share);
    if (!set) this.shares.set(share, (set = new Set()));
    set.add(s);
    return () => {
      set.delete(s);
      if (set.size === 0 && this.shares.get(share) === set) this.shares.delete(share);
    };
  }
}

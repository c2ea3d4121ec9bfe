import type { Entry } from "../core/entry.ts";
import { type EntryRow, entryFromRow, entryToRow, liveSize } from "./entry-row.ts";
import type { CommitStamp, EntryDraft, MetaStore, MetaTx } from "./meta-store.ts";
import { Serial } from "./serial.ts";
import { endableTx } from "./tx-handle.ts";

interface JournalRow {
  seq: number;
  /** Kept encoded as SQL keeps it: every read decodes a fresh entry, normalised the same way. */
  row: Required<EntryRow>;
  stamp: CommitStamp;
}

/** SQLite's order of TEXT (BINARY collation: the bytes of UTF-8), so both backends list paths alike. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The journal in memory, for tests and `memory:` servers. Like SqlMetaStore, transactions run
 * one at a time; their appends are held aside until `fn` resolves, so a failed transaction
 * leaves nothing and reads outside it never see what it has not committed.
 */
export class MemoryMetaStore implements MetaStore {
  readonly serverId = crypto.randomUUID();
  /** `journal[i].seq === i + 1`. */
  private readonly journal: JournalRow[] = [];
  /** Path → its newest journal row. */
  private readonly current = new Map<string, JournalRow>();
  private readonly serial = new Serial();
  private live = 0;

  async head(): Promise<number> {
    return this.journal.length;
  }

  async get(path: string): Promise<Entry | undefined> {
    return _decodeIf(this.current.get(path));
  }

  async liveBytes(): Promise<number> {
    return this.live;
  }

  async changesSince(since: number, limit: number): Promise<Entry[]> {
    const out: Entry[] = [];
    for (let i = Math.max(0, since); i < this.journal.length && out.length < limit; i++) {
      const j = this.journal[i]!;
      if (this.current.get(j.row.path) === j) out.push(_decode(j));
    }
    return out;
  }

  transaction<T>(stamp: CommitStamp, fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    return this.serial.run(async () => {
      const appended: JournalRow[] = [];
      const mine = new Map<string, JournalRow>();
      let grown = 0;
      const lookup = (path: string) => mine.get(path) ?? this.current.get(path);
      const handle = endableTx({
        head: async () => this.journal.length + appended.length,
        get: async (path) => _decodeIf(lookup(path)),
        liveChildren: async (folder) => {
          const prefix = `${folder}/`;
          const paths = new Set([...this.current.keys(), ...mine.keys()]);
          return [...paths]
            .filter((p) => p.startsWith(prefix))
            .sort(byteOrder)
            .map((p) => lookup(p)!)
            .filter((j) => j.row.deleted === 0)
            .map(_decode);
        },
        liveBytes: async () => this.live + grown,
        append: async (d: EntryDraft) => {
          grown += liveSize(d) - liveSize(_decodeIf(lookup(d.path)));
          const j: JournalRow = { seq: this.journal.length + appended.length + 1, row: entryToRow(d), stamp: { ...stamp } };
          appended.push(j);
          mine.set(d.path, j);
          return { ...d, version: j.seq };
        },
      });
      try {
        const result = await fn(handle.tx);
        for (const j of appended) {
          this.journal.push(j);
          this.current.set(j.row.path, j);
        }
        this.live += grown;
        return result;
      } finally {
        handle.end();
      }
    });
  }

  /** Nothing here can disagree with itself: `current` is only ever set with the row just journalled. */
  async check(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.serial.run(async () => {});
  }
}

function _decode(j: JournalRow): Entry {
  return entryFromRow(j.row, j.seq);
}

function _decodeIf(j: JournalRow | undefined): Entry | undefined {
  return j && _decode(j);
}

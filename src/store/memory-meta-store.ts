import type { Entry } from "../core/entry.ts";
import { type EntryRow, entryFromRow, entryToRow, liveSize } from "./entry-row.ts";
import type { CommitStamp, EntryDraft, HistoryQuery, JournalRecord, MetaStore, MetaTx, TrashItem, TrashQuery, VersionRow } from "./meta-store.ts";
import { Serial } from "./serial.ts";
import { endableTx, refusedDrop } from "./tx-handle.ts";

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

/** `p` is `scope` or inside it; "" is the whole share. */
function within(p: string, scope: string): boolean {
  return scope === "" || p === scope || p.startsWith(`${scope}/`);
}

/** The index of the first row with a seq above `seq` in `rows` (ordered by seq). */
function firstAfter(rows: readonly JournalRow[], seq: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The journal in memory, for tests and `memory:` servers. Like SqlMetaStore, transactions run
 * one at a time; their appends and drops are held aside until `fn` resolves, so a failed
 * transaction leaves nothing and reads outside it never see what it has not committed.
 */
export class MemoryMetaStore implements MetaStore {
  readonly serverId = crypto.randomUUID();
  /** Ordered by seq, with gaps where retention dropped rows. */
  private journal: JournalRow[] = [];
  /** Path → its newest journal row. */
  private readonly current = new Map<string, JournalRow>();
  private readonly clients = new Map<string, string>();
  private readonly serial = new Serial();
  private live = 0;
  /** The last seq handed out: dropping the newest rows never makes a seq come round again. */
  private last = 0;
  private pruned = 0;

  async head(): Promise<number> {
    return this.last;
  }

  async get(path: string): Promise<Entry | undefined> {
    return _decodeIf(this.current.get(path));
  }

  async liveBytes(): Promise<number> {
    return this.live;
  }

  async changesSince(since: number, limit: number): Promise<Entry[]> {
    const out: Entry[] = [];
    for (let i = firstAfter(this.journal, since); i < this.journal.length && out.length < limit; i++) {
      const j = this.journal[i]!;
      if (this.current.get(j.row.path) === j) out.push(_decode(j));
    }
    return out;
  }

  transaction<T>(stamp: CommitStamp, fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    return this.serial.run(async () => {
      const appended: JournalRow[] = [];
      const mine = new Map<string, JournalRow>();
      const dropped = new Set<JournalRow>();
      /** Paths whose entry this transaction's drops removed (until an append gives them one again). */
      const cleared = new Set<string>();
      let grown = 0;
      const lookup = (path: string) => mine.get(path) ?? (cleared.has(path) ? undefined : this.current.get(path));
      const rows = () => [...this.journal, ...appended].filter((j) => !dropped.has(j));
      const handle = endableTx({
        head: async () => this.last + appended.length,
        get: async (path) => _decodeIf(lookup(path)),
        liveChildren: async (folder) => {
          const prefix = `${folder}/`;
          const paths = new Set([...this.current.keys(), ...mine.keys()]);
          return [...paths]
            .filter((p) => p.startsWith(prefix))
            .sort(byteOrder)
            .map((p) => lookup(p))
            .filter((j) => j !== undefined && j.row.deleted === 0)
            .map((j) => _decode(j!));
        },
        liveBytes: async () => this.live + grown,
        append: async (d: EntryDraft) => {
          grown += liveSize(d) - liveSize(_decodeIf(lookup(d.path)));
          const j: JournalRow = { seq: this.last + appended.length + 1, row: entryToRow(d), stamp: { ...stamp } };
          appended.push(j);
          mine.set(d.path, j);
          cleared.delete(d.path);
          return { ...d, version: j.seq };
        },
        versions: async () =>
          rows().map((j): VersionRow => ({ seq: j.seq, path: j.row.path, committedAt: j.stamp.at, deleted: j.row.deleted === 1, current: lookup(j.row.path) === j })),
        drop: async (seqs) => {
          const all = rows();
          const bySeq = new Map(all.map((j) => [j.seq, j]));
          const going = seqs.map((s) => bySeq.get(s)).filter((j) => j !== undefined);
          const whole = new Set<string>();
          for (const j of going) {
            if (lookup(j.row.path) !== j) continue;
            if (j.row.deleted === 0) throw refusedDrop(j.row.path, j.seq);
            whole.add(j.row.path);
          }
          for (const j of going) dropped.add(j);
          // Those paths go whole: an older row left behind would look current to treeAt.
          for (const j of all) if (whole.has(j.row.path)) dropped.add(j);
          for (const p of whole) {
            mine.delete(p);
            cleared.add(p);
          }
        },
        referencedBlocks: async () => _referenced(rows()),
      });
      try {
        const result = await fn(handle.tx);
        if (dropped.size > 0) {
          this.journal = this.journal.filter((j) => !dropped.has(j));
          for (const p of cleared) this.current.delete(p);
        }
        for (const j of appended) {
          if (dropped.has(j)) continue;
          this.journal.push(j);
          this.current.set(j.row.path, j);
        }
        for (const j of dropped) this.pruned = Math.max(this.pruned, j.seq);
        this.last += appended.length;
        this.live += grown;
        return result;
      } finally {
        handle.end();
      }
    });
  }

  async prunedThrough(): Promise<number> {
    return this.pruned;
  }

  async history(q: HistoryQuery): Promise<JournalRecord[]> {
    const out: JournalRecord[] = [];
    const end = q.before === undefined ? this.journal.length : firstAfter(this.journal, q.before - 1);
    for (let i = end - 1; i >= 0 && out.length < q.limit; i--) {
      const j = this.journal[i]!;
      if (q.below ? within(j.row.path, q.path) : j.row.path === q.path) out.push(_record(j));
    }
    return out;
  }

  async treeAt(path: string, seq: number): Promise<Entry[]> {
    const newest = new Map<string, JournalRow>();
    for (const j of this.journal.slice(0, firstAfter(this.journal, seq))) if (within(j.row.path, path)) newest.set(j.row.path, j);
    return [...newest.values()]
      .filter((j) => j.row.deleted === 0)
      .sort((a, b) => byteOrder(a.row.path, b.row.path))
      .map(_decode);
  }

  async seqAt(at: number): Promise<number> {
    const later = this.journal.find((j) => j.stamp.at > at);
    return later ? later.seq - 1 : this.last;
  }

  async trash(q: TrashQuery): Promise<TrashItem[]> {
    const items: TrashItem[] = [];
    const tombs = [...this.current.values()].filter((j) => j.row.deleted === 1 && within(j.row.path, q.path) && (q.before === undefined || j.seq < q.before));
    for (const t of tombs.sort((a, b) => b.seq - a.seq)) {
      if (items.length >= q.limit) break;
      const last = this.journal.findLast((j) => j.row.path === t.row.path && j.seq < t.seq && j.row.deleted === 0);
      if (!last) continue;
      const movedAway = this.journal.some((m) => m.row.moved_from === t.row.path && m.seq > last.seq && m.seq < t.seq);
      if (!movedAway) items.push({ deleted: _record(t), last: _record(last) });
    }
    return items;
  }

  async noteClient(clientId: string, host: string): Promise<void> {
    this.clients.set(clientId, host);
  }

  async clientHosts(clientIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of clientIds) {
      const host = this.clients.get(id);
      if (host !== undefined) out.set(id, host);
    }
    return out;
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

function _record(j: JournalRow): JournalRecord {
  return { ..._decode(j), committedAt: j.stamp.at, clientId: j.stamp.clientId, cause: j.stamp.cause ?? null };
}

function _referenced(rows: readonly JournalRow[]): Set<string> {
  const out = new Set<string>();
  for (const j of rows) for (const [hash] of JSON.parse(j.row.blocks) as [string, number][]) out.add(hash);
  return out;
}

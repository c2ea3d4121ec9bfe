import { conflictCopyHost } from "../core/conflict-name.ts";
import { wirePathError } from "../core/wire-path.ts";
import { type HistoryRow, MAX_PAGE, type TrashRow } from "../protocol/messages.ts";
import type { JournalRecord, MetaStore } from "../store/meta-store.ts";

/** Rows a history or trash page holds when the asker does not say. */
export const HISTORY_PAGE = 100;

export interface PageQuery {
  /** A wire path, or "" for the whole share. */
  path: string;
  before?: number;
  limit?: number;
}

/** Refuses a query path that is neither "" nor a wire path. */
function checkedPath(path: string): string {
  const error = path === "" ? undefined : wirePathError(path);
  if (error) throw error;
  return path;
}

function pageSize(limit: number | undefined): number {
  return Math.min(limit ?? HISTORY_PAGE, MAX_PAGE);
}

/**
 * The journal rows of a path (with `below`, of everything at or inside it), newest first, as
 * history shows them. `more`: an older page exists.
 */
export async function readHistory(meta: MetaStore, q: PageQuery & { below: boolean }): Promise<{ rows: HistoryRow[]; more: boolean }> {
  const path = checkedPath(q.path);
  const limit = pageSize(q.limit);
  // One row past the page says whether another page follows.
  const found = await meta.history({ path, below: q.below || path === "", before: q.before, limit: limit + 1 });
  const page = found.slice(0, limit);
  const previous = await previousRows(meta, page, found[limit]);
  const hosts = await meta.clientHosts(distinctClients(page));
  const rows = page.map((r): HistoryRow => {
    const row: HistoryRow = { seq: r.version, path: r.path, kind: r.kind, change: changeOf(r, previous.get(r.version)), size: r.size, at: r.committedAt, clientId: r.clientId, host: hostOf(hosts, r.clientId) };
    if (r.movedFrom !== undefined) row.movedFrom = r.movedFrom;
    return row;
  });
  return { rows, more: found.length > limit };
}

/**
 * What each row did. A row that put content is a creation when the path had no row before it
 * or its row before was a deletion; a created conflicted-copy name is a conflict copy.
 */
function changeOf(r: JournalRecord, before: JournalRecord | null | undefined): HistoryRow["change"] {
  if (r.deleted) return "delete";
  if (r.movedFrom !== undefined) return "move";
  if (r.cause === "restore") return "restore";
  if (before && !before.deleted) return "edit";
  return conflictCopyHost(r.path) === undefined ? "create" : "conflict";
}

/**
 * The row before each row of `page` at the same path (null: none), found in the page itself
 * where it can be; only the oldest row of each path on the page asks the journal, and only when
 * its kind of change depends on it.
 */
async function previousRows(meta: MetaStore, page: readonly JournalRecord[], next: JournalRecord | undefined): Promise<Map<number, JournalRecord | null>> {
  const out = new Map<number, JournalRecord | null>();
  const newer = new Map<string, JournalRecord>();
  const rows = next ? [...page, next] : page;
  for (const r of rows) {
    const later = newer.get(r.path);
    if (later) out.set(later.version, r);
    newer.set(r.path, r);
  }
  for (const r of newer.values()) {
    if (out.has(r.version) || r === next || r.deleted || r.cause === "restore" || r.movedFrom !== undefined) continue;
    const [before] = await meta.history({ path: r.path, below: false, before: r.version, limit: 1 });
    out.set(r.version, before ?? null);
  }
  return out;
}

/** Deleted files at or inside a path ("" for the whole share), newest deletion first. */
export async function readTrash(meta: MetaStore, q: PageQuery): Promise<{ items: TrashRow[]; more: boolean }> {
  const path = checkedPath(q.path);
  const limit = pageSize(q.limit);
  const found = await meta.trash({ path, before: q.before, limit: limit + 1 });
  const page = found.slice(0, limit);
  const hosts = await meta.clientHosts(distinctClients(page.map((i) => i.deleted)));
  const items = page.map(
    ({ deleted, last }): TrashRow => ({
      path: deleted.path,
      kind: last.kind,
      seq: deleted.version,
      version: last.version,
      size: last.size,
      at: deleted.committedAt,
      clientId: deleted.clientId,
      host: hostOf(hosts, deleted.clientId),
    }),
  );
  return { items, more: found.length > limit };
}

function distinctClients(rows: readonly JournalRecord[]): string[] {
  return [...new Set(rows.map((r) => r.clientId).filter((id) => id !== null))];
}

function hostOf(hosts: ReadonlyMap<string, string>, clientId: string | null): string | null {
  return (clientId !== null && hosts.get(clientId)) || null;
}

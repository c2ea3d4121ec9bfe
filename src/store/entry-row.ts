import type { BlockRef, Entry, EntryKind } from "../core/entry.ts";
import type { XattrSet } from "../core/xattrs.ts";
import type { EntryDraft } from "./meta-store.ts";

/**
 * An entry as SQLite columns, the one encoding shared by the server's journal (meta.db) and
 * the client's synced state (state.db): block lists and attribute sets as JSON, booleans as
 * 0/1, absent optional fields as NULL. state.db keeps only live entries and no moves, so it has
 * no `deleted` or `moved_from` column.
 */
export interface EntryRow {
  path: string;
  kind: EntryKind;
  size: number;
  mode: number;
  hash: string;
  blocks: string;
  deleted?: number;
  mtime: number;
  moved_from?: string | null;
  target: string | null;
  xattrs: string | null;
}

/** The entry a row holds; the row's own table names its version (`seq` or `version`). */
export function entryFromRow(r: EntryRow, version: number): Entry {
  const e: Entry = {
    path: r.path,
    kind: r.kind,
    size: r.size,
    mode: r.mode,
    hash: r.hash,
    blocks: JSON.parse(r.blocks) as BlockRef[],
    version,
    deleted: r.deleted === 1,
    mtime: r.mtime,
  };
  if (r.moved_from != null) e.movedFrom = r.moved_from;
  if (r.target !== null) e.target = r.target;
  if (r.xattrs !== null) e.xattrs = JSON.parse(r.xattrs) as XattrSet;
  return e;
}

export function entryToRow(d: EntryDraft): Required<EntryRow> {
  return {
    path: d.path,
    kind: d.kind,
    size: d.size,
    mode: d.mode,
    hash: d.hash,
    blocks: JSON.stringify(d.blocks),
    deleted: d.deleted ? 1 : 0,
    mtime: d.mtime,
    moved_from: d.movedFrom ?? null,
    target: d.target ?? null,
    // An empty set is no set: the entry then has no `xattrs` field (core/xattrs.ts).
    xattrs: d.xattrs?.length ? JSON.stringify(d.xattrs) : null,
  };
}

/** What an entry counts towards its share's live bytes, which a quota limits: a live file its size, anything else nothing. */
export function liveSize(e: { kind: string; deleted: boolean; size: number } | undefined): number {
  return e && e.kind === "file" && !e.deleted ? e.size : 0;
}

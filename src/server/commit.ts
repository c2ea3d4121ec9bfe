import { hashBlockList } from "../core/block-hash.ts";
import { applySplice } from "../core/block-splice.ts";
import { formatBytes } from "../core/units.ts";
import { type Content, type Entry, normalMode, sameContent, symlinkContent } from "../core/entry.ts";
import { ancestorsOf, depthOf, isInside, wirePathError } from "../core/wire-path.ts";
import type { Op, OpResult, PutOp } from "../protocol/messages.ts";
import { liveSize } from "../store/entry-row.ts";
import type { BlockStore } from "../store/block-store.ts";
import type { CommitStamp, EntryDraft, MetaStore, MetaTx } from "../store/meta-store.ts";

export interface Commit {
  /** The journal's head before the batch: entries of the results with a higher version are new. */
  from: number;
  head: number;
  results: OpResult[];
  /**
   * What each file put found at its path, read in the transaction: replies and pushes tell new
   * block lists as splices of it.
   */
  replaced: ReadonlyMap<string, Entry | undefined>;
}

/**
 * Which of `hashes` the block store does not hold, asked inside the meta transaction: garbage
 * collection deletes blocks in a meta transaction too, so none can go between this answer and
 * the commit that refers to them. It also makes the blocks it vouches for durable.
 */
export type FindMissing = (hashes: readonly string[]) => Promise<ReadonlySet<string>>;

interface Batch {
  tx: MetaTx;
  missing: ReadonlySet<string>;
  /** Bytes of live files the share may hold; null for no limit. */
  quota: number | null;
  now: number;
  replaced: Map<string, Entry | undefined>;
}

/**
 * Applies a batch of changes in one transaction, each checked against the version it was
 * made on (optimistic concurrency). A stale change is answered `conflict` with the current
 * entry; it never overwrites. A file put whose blocks `findMissing` does not find is refused
 * `missing_blocks`. Every op stands alone: one that cannot be committed gets its own error
 * result and the others of the batch commit all the same. Everything the batch is checked
 * against, and its `from` and `head`, is read through the transaction, so concurrent commits
 * cannot interleave. A put that would take the share's live bytes past `quota` is refused
 * `quota_exceeded`; one that shrinks or keeps them is not, so a share over its quota can
 * always be cleaned up.
 */
export function applyOps(store: MetaStore, ops: readonly Op[], findMissing: FindMissing, stamp: CommitStamp, quota: number | null = null): Promise<Commit> {
  return store.transaction(stamp, (tx) => applyOpsIn(tx, ops, findMissing, stamp.at, quota));
}

/** `applyOps` inside a transaction the caller holds (a restore reads and plans in the same one). */
export async function applyOpsIn(tx: MetaTx, ops: readonly Op[], findMissing: FindMissing, now: number, quota: number | null = null): Promise<Commit> {
  const batch: Batch = { tx, missing: await findMissing(blocksOf(ops)), quota, now, replaced: new Map() };
  const from = await tx.head();
  const results: OpResult[] = [];
  for (const op of ops) results.push(await applyOne(batch, op));
  return { from, head: await tx.head(), results, replaced: batch.replaced };
}

/** `FindMissing` of a block store: what was put so far is made durable first, as the journal may only refer to blocks on disk. */
export function findMissingIn(blocks: BlockStore): FindMissing {
  return async (hashes) => {
    await blocks.sync();
    return new Set(hashes.length > 0 ? await blocks.missing(hashes) : []);
  };
}

/** The distinct blocks the file puts of `ops` name (a splice names only those it inserts). */
function blocksOf(ops: readonly Op[]): string[] {
  const wanted = new Set<string>();
  for (const op of ops) {
    if (op.op === "put" && op.kind === "file") for (const [h] of op.splice?.insert ?? op.blocks ?? []) wanted.add(h);
  }
  return [...wanted];
}

function live(e: Entry | undefined): Entry | undefined {
  return e && !e.deleted ? e : undefined;
}

function conflict(current: Entry | undefined): OpResult {
  return { status: "conflict", current: current ?? null };
}

async function applyOne(b: Batch, op: Op): Promise<OpResult> {
  for (const p of op.op === "move" ? [op.from, op.to] : [op.path]) {
    const error = wirePathError(p);
    if (error) return { status: "error", code: error.code, message: error.message };
  }
  switch (op.op) {
    case "put":
      return put(b, op);
    case "delete":
      return remove(b, op.path, op.baseVersion);
    case "move":
      return move(b, op.from, op.to, op.baseVersion);
  }
}

/** Every folder above `path` must be a live folder; missing ones are created. */
async function parentsProblem(tx: MetaTx, path: string): Promise<OpResult | undefined> {
  for (const a of ancestorsOf(path)) {
    const e = live(await tx.get(a));
    if (e && e.kind !== "dir") return { status: "error", code: "parent_not_dir", message: `Cannot write "${path}": "${a}" is a ${e.kind}` };
  }
  return undefined;
}

async function createParents(b: Batch, path: string): Promise<Entry[]> {
  const made: Entry[] = [];
  for (const a of ancestorsOf(path)) {
    if (live(await b.tx.get(a))) continue;
    made.push(await b.tx.append({ path: a, kind: "dir", size: 0, mode: normalMode("dir", 0), hash: "", blocks: [], deleted: false, mtime: b.now }));
  }
  return made;
}

/**
 * The content a put stands for. A file's block list is its own or a splice of the current
 * version (a splice of any other version is a stale edit: `conflict`), and its size and hash
 * must follow from it; a symlink's size and hash must follow from its target.
 */
function contentOf(op: PutOp, current: Entry | undefined): Content | OpResult {
  if (op.kind === "dir") return { kind: "dir", size: 0, mode: normalMode("dir", op.mode), hash: "", blocks: [] };
  if (op.kind === "symlink") {
    const link = symlinkContent(op.target!);
    if (link.size === op.size && link.hash === op.hash) return link;
    return { status: "error", code: "bad_message", message: `Cannot commit "${op.path}": its size or hash do not match its target` };
  }
  if ((op.blocks === undefined) === (op.splice === undefined)) {
    return { status: "error", code: "bad_message", message: `Cannot commit "${op.path}": send either a block list or a splice` };
  }
  let blocks = op.blocks;
  if (op.splice) {
    const base = live(current);
    if (!base || base.kind !== "file" || base.version !== op.splice.base) return conflict(current);
    try {
      blocks = applySplice(base.blocks, op.splice);
    } catch (e) {
      return { status: "error", code: "bad_message", message: `Cannot commit "${op.path}": ${(e as Error).message}` };
    }
  }
  const size = blocks!.reduce((n, [, s]) => n + s, 0);
  if (size !== op.size) {
    return { status: "error", code: "bad_message", message: `Cannot commit "${op.path}": blocks add up to ${size} bytes, not ${op.size}` };
  }
  if (op.hash !== hashBlockList(blocks!.map(([h]) => h))) {
    return { status: "error", code: "bad_message", message: `Cannot commit "${op.path}": its hash does not match its block list` };
  }
  const content: Content = { kind: "file", size, mode: normalMode("file", op.mode), hash: op.hash, blocks: blocks! };
  // Checked with the message (protocol/messages.ts): canonical, bounded, on live files only.
  if (op.xattrs) content.xattrs = op.xattrs;
  return content;
}

async function put(b: Batch, op: PutOp): Promise<OpResult> {
  const { tx } = b;
  const current = await tx.get(op.path);
  if (op.kind === "file" && !b.replaced.has(op.path)) b.replaced.set(op.path, current);
  const content = contentOf(op, current);
  if ("status" in content) return content;
  const cur = live(current);
  // The same bytes arriving twice (two replicas uploading one file) is agreement, not conflict.
  if (cur && sameContent(cur, content)) return { status: "ok", entries: [cur] };
  const expected = cur ? cur.version : op.baseVersion === 0 ? 0 : (current?.version ?? 0);
  if (op.baseVersion !== expected) return conflict(current);
  if (cur?.kind === "dir" && (await tx.liveChildren(op.path)).length > 0) return conflict(cur);
  const absent = content.blocks.filter(([h]) => b.missing.has(h));
  if (absent.length > 0) {
    return { status: "error", code: "missing_blocks", message: `Cannot commit "${op.path}": ${absent.length} block(s) were never uploaded` };
  }
  const problem = (await parentsProblem(tx, op.path)) ?? (await quotaProblem(b, op.path, liveSize({ ...content, deleted: false }) - liveSize(cur)));
  if (problem) return problem;
  const entries = await createParents(b, op.path);
  entries.push(await tx.append({ path: op.path, ...content, deleted: false, mtime: op.mtime }));
  return { status: "ok", entries };
}

async function quotaProblem(b: Batch, path: string, grows: number): Promise<OpResult | undefined> {
  if (b.quota === null || grows <= 0) return undefined;
  const used = await b.tx.liveBytes();
  if (used + grows <= b.quota) return undefined;
  return { status: "error", code: "quota_exceeded", message: `Cannot commit "${path}": the share would hold ${formatBytes(used + grows)}, over its quota of ${formatBytes(b.quota)}` };
}

function tombstone(e: Entry, now: number): EntryDraft {
  return { path: e.path, kind: e.kind, size: 0, mode: e.mode, hash: "", blocks: [], deleted: true, mtime: now };
}

async function remove(b: Batch, path: string, baseVersion: number): Promise<OpResult> {
  const cur = live(await b.tx.get(path));
  if (!cur) return { status: "ok", entries: [] };
  if (cur.version !== baseVersion) return conflict(cur);
  // A folder is deleted only once its children are: a file someone else added meanwhile survives.
  if (cur.kind === "dir" && (await b.tx.liveChildren(path)).length > 0) return conflict(cur);
  return { status: "ok", entries: [await b.tx.append(tombstone(cur, b.now))] };
}

async function move(b: Batch, from: string, to: string, baseVersion: number): Promise<OpResult> {
  const { tx } = b;
  const current = await tx.get(from);
  const src = live(current);
  if (!src || src.version !== baseVersion) return conflict(current);
  if (to === from || isInside(to, from)) {
    return { status: "error", code: "bad_path", message: `Cannot move "${from}" into itself ("${to}")` };
  }
  const dst = live(await tx.get(to));
  if (dst) return conflict(dst);
  const problem = await parentsProblem(tx, to);
  if (problem) return problem;
  const children = src.kind === "dir" ? await tx.liveChildren(from) : [];
  const entries = await createParents(b, to);
  // New paths first (parents before children), then tombstones (children before parents):
  // a replica applying them in order never holds a child without its folder.
  for (const e of [src, ...children]) {
    const newPath = to + e.path.slice(from.length);
    entries.push(await tx.append({ ...e, path: newPath, movedFrom: e.path, deleted: false }));
  }
  const gone = [src, ...children].sort((x, y) => depthOf(y.path) - depthOf(x.path));
  for (const e of gone) entries.push(await tx.append(tombstone(e, b.now)));
  return { status: "ok", entries };
}

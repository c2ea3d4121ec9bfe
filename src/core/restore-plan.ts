import { type ConflictOrigin, conflictName } from "./conflict-name.ts";
import { type Entry, sameContent } from "./entry.ts";
import { ancestorsOf, baseName, depthOf, parentOf } from "./wire-path.ts";

/** An op as protocol/messages.ts spells it; core imports nothing above itself, so the shapes are restated. */
export type RestoreOp =
  | {
      op: "put";
      path: string;
      kind: Entry["kind"];
      baseVersion: number;
      size: number;
      mode: number;
      hash: string;
      blocks?: Entry["blocks"];
      mtime: number;
      target?: string;
      xattrs?: Entry["xattrs"];
    }
  | { op: "delete"; path: string; baseVersion: number };

/** One line of what a restore does; `of` is the original path of a conflict copy. */
export interface RestoreStep {
  path: string;
  action: "restore" | "remove" | "conflict_copy";
  kind: Entry["kind"];
  size: number;
  of?: string;
}

export interface RestoreInput {
  /** Live entries at or inside the restored path as they were at the target seq. */
  then: readonly Entry[];
  /** Live entries at or inside the restored path now. */
  now: readonly Entry[];
  /** The head the asker last saw: anything newer was changed behind its back and is kept. */
  seen: number;
  origin: ConflictOrigin;
  /** Whether a path outside `now` is in use, for conflict-copy names. */
  taken: (path: string) => boolean;
}

export interface RestorePlan {
  ops: RestoreOp[];
  steps: RestoreStep[];
}

/**
 * Plans bringing a subtree back to `then`. Invariants:
 * - Only journal appends: what is removed is deleted (it goes to the trash), never dropped.
 * - A live path changed after `seen`, or a folder holding one, is never deleted or overwritten.
 *   A file of `then` that would replace it goes beside it under a conflict-copy name; a folder of
 *   `then` that would replace a kept file or link is re-created whole under a conflict-copy name
 *   with its restored children inside. Conflict copies are per file: a kept folder is simply not
 *   removed, and the files of `then` inside it are restored or copied one by one.
 * - A path deleted after `seen` comes back: bringing back is never a lost write.
 * - Order: every deletion first, children before parents; then puts, parents before children.
 *   A kind change at one path (file ⇄ folder ⇄ link) is a delete and a put from base 0.
 * - Nothing to do is an empty plan.
 */
export function planRestore(input: RestoreInput): RestorePlan {
  const now = new Map(input.now.map((e) => [e.path, e]));
  const kept = _keptPaths(input.now, input.seen);
  const named = new Set<string>();
  const taken = (p: string) => now.has(p) || named.has(p) || input.taken(p);
  const copyName = (p: string) => {
    const name = conflictName(p, input.origin, taken);
    named.add(name);
    return name;
  };
  const deletes: RestoreOp[] = [];
  const removed: RestoreStep[] = [];
  const thenByPath = new Map(input.then.map((e) => [e.path, e]));
  for (const n of [...input.now].sort(_deepestFirst)) {
    const t = thenByPath.get(n.path);
    if (kept.has(n.path) || (t && t.kind === n.kind)) continue;
    deletes.push({ op: "delete", path: n.path, baseVersion: n.version });
    removed.push({ path: n.path, action: "remove", kind: n.kind, size: n.size });
  }
  // A folder of `then` that cannot come back at its own path (a kept file holds it) comes back
  // under a new name: `moved` maps its path to that name, and its subtree follows it.
  const moved = new Map<string, string>();
  const puts: RestoreOp[] = [];
  const restored: RestoreStep[] = [];
  const emit = (t: Entry, path: string, baseVersion: number, of?: string) => {
    puts.push(_putOf(t, path, baseVersion));
    restored.push({ path, action: of === undefined ? "restore" : "conflict_copy", kind: t.kind, size: t.size, ...(of === undefined ? {} : { of }) });
  };
  for (const t of [...input.then].sort(_shallowestFirst)) {
    const parent = moved.get(parentOf(t.path));
    if (parent !== undefined) {
      const path = `${parent}/${baseName(t.path)}`;
      if (t.kind === "dir") moved.set(t.path, path);
      emit(t, path, 0, t.path);
      continue;
    }
    const n = now.get(t.path);
    if (n && sameContent(n, t)) continue;
    if (n && kept.has(n.path)) {
      if (n.kind === "dir" && t.kind === "dir") continue;
      const path = copyName(t.path);
      if (t.kind === "dir") moved.set(t.path, path);
      emit(t, path, 0, t.path);
      continue;
    }
    emit(t, t.path, n && n.kind === t.kind ? n.version : 0);
  }
  return { ops: [...deletes, ...puts], steps: [...removed, ...restored] };
}

/** Paths changed after `seen`, and the live folders holding one: a restore leaves them standing. */
function _keptPaths(now: readonly Entry[], seen: number): Set<string> {
  const live = new Set(now.map((e) => e.path));
  const kept = new Set<string>();
  for (const e of now) {
    if (e.version <= seen) continue;
    kept.add(e.path);
    for (const a of ancestorsOf(e.path)) if (live.has(a)) kept.add(a);
  }
  return kept;
}

function _putOf(t: Entry, path: string, baseVersion: number): RestoreOp {
  const put: RestoreOp = { op: "put", path, kind: t.kind, baseVersion, size: t.size, mode: t.mode, hash: t.hash, mtime: t.mtime };
  if (t.kind === "file") put.blocks = t.blocks;
  if (t.kind === "dir") put.blocks = [];
  if (t.target !== undefined) put.target = t.target;
  if (t.xattrs !== undefined) put.xattrs = t.xattrs;
  return put;
}

function _byPath(a: Entry, b: Entry): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function _deepestFirst(a: Entry, b: Entry): number {
  return depthOf(b.path) - depthOf(a.path) || _byPath(a, b);
}

function _shallowestFirst(a: Entry, b: Entry): number {
  return depthOf(a.path) - depthOf(b.path) || _byPath(a, b);
}

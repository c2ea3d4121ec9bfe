import { type BlockSplice, diffBlocks } from "./block-splice.ts";
import { conflictCopyHost } from "./conflict-name.ts";
import { type Content, type Entry, type EntryKind } from "./entry.ts";
import { isMassDelete } from "./mass-delete.ts";
import { type Action, reconcile } from "./reconcile.ts";
import { isInside } from "./wire-path.ts";
import { sameXattrs, type XattrSet } from "./xattrs.ts";

/** How long local deletions must stop appearing before they are sent. */
export const DELETE_QUIET_MS = 1000;

/** What the planner needs of a path on disk: its kind, and the inode that pairs a move. */
export interface Found {
  kind: EntryKind;
  ino: number;
}

/** What both sides last agreed on for a path (the merge base), with the stat it had then. */
export interface Base<S extends Found> {
  entry: Entry;
  stat: S;
}

/** The local side of a pass, as the scan read it (client/local-view.ts). */
export interface LocalTree<S extends Found> {
  /** What each looked-at path holds now. */
  content: ReadonlyMap<string, Content>;
  stat: ReadonlyMap<string, S>;
  /** Files that could not be read now, with the reason. */
  unreadable: ReadonlyMap<string, string>;
  /** Entries that exist but cannot be synced, with the reason. */
  skipped: ReadonlyMap<string, string>;
  /** Changed files beyond this pass's reading budget. */
  later: ReadonlySet<string>;
  /** Files still being written, with how long to wait before looking again. */
  settling: ReadonlyMap<string, number>;
}

/** A put sent whose reply has not come: what we uploaded, in case the reply is lost. */
export interface Sent<S extends Found> {
  kind: EntryKind;
  hash: string;
  xattrs?: XattrSet;
  stat: S;
}

/** What one pass hands the next: the planner's memory, passed in and returned, never kept. */
export interface PassState {
  /** Local deletions not sent yet, with when each was first seen. */
  deletionsSeen: ReadonlyMap<string, number>;
  /** Local deletions held as a mass deletion (the client keeps them in state.db across restarts). */
  held: ReadonlySet<string>;
  /** Held deletions the user confirmed at start: sent, once. */
  confirmed: ReadonlySet<string>;
}

export interface Policy {
  /** The user's ignore rules: nothing is uploaded or deleted on the server for an ignored path. */
  ignored(path: string, isDir: boolean): boolean;
  /** Local deletions above this many (and over half the folder) wait for confirmation. */
  massDeleteLimit: number;
  /**
   * The token only reads: nothing is sent to the server. Local changes stay as they are, left
   * out as "read_only" (a remote change to one still makes a conflict copy, a local step).
   */
  readOnly: boolean;
  /**
   * Selective sync: the path is excluded here (or lies in an excluded folder). Nothing is
   * planned for it either way: not downloaded, not uploaded, never deleted on the server.
   */
  excluded(path: string): boolean;
}

export interface PlanInput<S extends Found> {
  /** The server's news not yet applied, by path. */
  remote: ReadonlyMap<string, Entry>;
  local: LocalTree<S>;
  /** The merge base of every path looked at. */
  synced: ReadonlyMap<string, Base<S>>;
  /** Entries the folder's index holds in all: what a mass deletion is measured against. */
  treeSize: number;
  inflight: ReadonlyMap<string, Sent<S>>;
  state: PassState;
  policy: Policy;
  /** Milliseconds on the caller's clock; only differences matter. */
  now: number;
}

/** A change to the folder. Downloads of conflict copies made elsewhere name the host that kept them. */
export type LocalStep =
  | { type: "delete_local"; path: string; entry: Entry }
  | { type: "record"; path: string; entry: Entry }
  | { type: "download"; path: string; entry: Entry; conflictHost?: string }
  | { type: "conflict_copy"; path: string; entry: Entry; conflictHost?: string };

/** A change for the server. An edit of a synced file sends only the changed part of its block list (`splice`). */
export type RemoteStep =
  | { type: "upload"; path: string; baseVersion: number; content: Content; splice?: BlockSplice }
  | { type: "delete_remote"; path: string; baseVersion: number };

/** A vanished synced path whose inode turned up at a new path: one op, no byte uploaded again. */
export interface Move {
  from: string;
  to: string;
  baseVersion: number;
  kind: EntryKind;
}

export type HoldReason = "mass_deletion" | "quiet_period";
export interface HeldDeletion {
  path: string;
  reason: HoldReason;
}

export type SkipReason = "ignored" | "excluded" | "read_only" | "unreadable" | "cannot_sync" | "settling" | "later";
export interface Skipped {
  path: string;
  reason: SkipReason;
  /** For an unreadable entry or one that cannot be synced: why (reported to the user). */
  why?: string;
  /** Left alone because an entry above it is (`why` is that entry's). */
  under?: string;
}

/**
 * One pass, as data. Carried out in this order: `claims` recorded, `renames` tried (a download
 * a rename did is not written), `local` in order, then `moves` and `remote` sent in one batch.
 * Both step lists are ordered: removals deepest first, then writes shallowest first.
 */
export interface Plan<S extends Found> {
  /** Our own puts the server's news shows committed (their reply was lost): the merge base from now on. */
  claims: Entry[];
  /** Downloads that may be renames of what we hold (moved elsewhere): tried before anything else. */
  renames: Entry[];
  local: LocalStep[];
  moves: Move[];
  remote: RemoteStep[];
  held: HeldDeletion[];
  /** How many deletions this pass began to hold as a mass deletion (0: none): the user is told. */
  newlyHeld: number;
  skipped: Skipped[];
  /** The news this pass acts on: what came in, less what was left out. */
  news: Map<string, Entry>;
  /** The local stats this pass acts on, less what was left out. */
  stat: Map<string, S>;
  /** The merge base as planned with: less what was left out, with the claims. */
  synced: Map<string, Base<S>>;
  /** News left out that waits for a retry after a pause (the cursor waits with it). */
  deferred: Entry[];
  /** News of files left for a later pass (over the reading budget): planned again next pass. */
  kept: Entry[];
  /** Paths to look at again at a time on the `now` clock: what cannot be decided now may be soon. */
  lookAgain: { at: number; paths: string[] }[];
  next: PassState;
}

/**
 * Plans one pass over the three trees: leaves out what cannot be planned now (files being
 * written, over budget, unreadable, and everything below an entry that cannot be synced: a
 * folder we cannot list is not a deleted folder), claims our own commits, reconciles, drops
 * what the ignore rules hide, pairs moves, and holds deletions (a mass deletion until
 * confirmed; any deletion until none has appeared for DELETE_QUIET_MS). No I/O, no clock.
 */
export function planPass<S extends Found>(input: PlanInput<S>): Plan<S> {
  const { local, policy, now } = input;
  const news = new Map(input.remote);
  const found = new Map(local.stat);
  const synced = new Map(input.synced);
  const content = new Map(local.content);
  const plan: Plan<S> = {
    claims: [],
    renames: [],
    local: [],
    moves: [],
    remote: [],
    held: [],
    newlyHeld: 0,
    skipped: [],
    news,
    stat: found,
    synced,
    deferred: [],
    kept: [],
    lookAgain: [],
    next: input.state,
  };

  // Paths left out of this pass are planned for by nobody: their news waits, the cursor too.
  const leaveOut = (p: string): Entry | undefined => {
    const e = news.get(p);
    for (const m of [news, found, synced, content]) m.delete(p);
    return e;
  };
  // Excluded paths are out of this folder's view: their news is dropped, not deferred (the
  // cursor moves past it; `include` fetches it again), and what is here of them is never
  // uploaded, and its absence never sent as a deletion.
  for (const q of new Set([...found.keys(), ...synced.keys(), ...news.keys(), ...content.keys(), ...local.later, ...local.settling.keys()])) {
    if (!policy.excluded(q)) continue;
    leaveOut(q);
    plan.skipped.push({ path: q, reason: "excluded" });
  }
  for (const p of local.later) {
    if (policy.excluded(p)) continue;
    const e = leaveOut(p);
    if (e) plan.kept.push(e);
    plan.skipped.push({ path: p, reason: "later" });
  }
  for (const [p, ms] of local.settling) {
    if (policy.excluded(p)) continue;
    const e = leaveOut(p);
    if (e) plan.deferred.push(e);
    plan.skipped.push({ path: p, reason: "settling" });
    plan.lookAgain.push({ at: now + ms, paths: [p] });
  }
  const cannot: Skipped[] = [
    ...[...local.unreadable].map(([path, why]): Skipped => ({ path, reason: "unreadable", why })),
    ...[...local.skipped].map(([path, why]): Skipped => ({ path, reason: "cannot_sync", why })),
  ].filter((c) => !policy.excluded(c.path));
  plan.skipped.push(...cannot);
  if (cannot.length > 0) {
    for (const q of new Set([...found.keys(), ...synced.keys(), ...news.keys(), ...content.keys()])) {
      const above = cannot.find((c) => q === c.path || isInside(q, c.path));
      if (!above) continue;
      const e = leaveOut(q);
      if (e) plan.deferred.push(e);
      if (q !== above.path) plan.skipped.push({ path: q, reason: above.reason, why: above.why, under: above.path });
    }
  }

  // A put whose reply was lost may have committed. News that shows our content at such a path
  // is ours: it becomes the merge base, so a deletion or edit made since is planned against it
  // (without this, a file deleted after its upload was cut off came back: soak seed 179888428).
  for (const [p, e] of news) {
    const sent = input.inflight.get(p);
    if (!sent || e.deleted || e.kind !== sent.kind || e.hash !== sent.hash || !sameXattrs(e.xattrs, sent.xattrs)) continue;
    if (e.version <= (synced.get(p)?.entry.version ?? 0)) continue;
    plan.claims.push(e);
    synced.set(p, { entry: e, stat: sent.stat });
  }

  const bases = new Map<string, Entry>();
  for (const [p, s] of synced) bases.set(p, s.entry);
  let planned: Action[] = [];
  for (const a of reconcile(news, content, bases)) {
    // A remote entry for an ignored path stays remote: we never plan for what we cannot see.
    const pushes = a.type === "delete_remote" || a.type === "upload";
    if (pushes && policy.ignored(a.path, (found.get(a.path)?.kind ?? synced.get(a.path)?.entry.kind) === "dir")) {
      plan.skipped.push({ path: a.path, reason: "ignored" });
    } else if (pushes && policy.readOnly) {
      // Before moves and holds: a read-only folder sends no move and holds no deletion either.
      plan.skipped.push({ path: a.path, reason: "read_only" });
    } else planned.push(a);
  }

  // A folder moved is not a folder deleted: moves are found before deletions are counted.
  const covered = _findMoves(planned, found, synced, content, plan.moves);
  const mass = _holdMassDeletion(planned, found, covered, input);
  plan.newlyHeld = mass.newlyHeld;
  planned = planned.filter((a) => {
    if (a.type !== "delete_remote" || !mass.held.has(a.path) || input.state.confirmed.has(a.path)) return true;
    plan.held.push({ path: a.path, reason: "mass_deletion" });
    return false;
  });
  const deleting = planned.filter((a) => a.type === "delete_remote" && !covered.has(a.path)).map((a) => a.path);
  const quiet = _holdDeletions(deleting, found, synced, input);
  for (const p of quiet.held) plan.held.push({ path: p, reason: "quiet_period" });
  if (quiet.lookAgainAt !== undefined) plan.lookAgain.push({ at: quiet.lookAgainAt, paths: deleting });
  plan.next = { deletionsSeen: quiet.seen, held: mass.held, confirmed: input.state.confirmed };

  // Moves made elsewhere are renames here, tried first: the tombstones of their old paths would
  // otherwise delete the bytes the rename can reuse. A folder is renamed as one only when the
  // plan does nothing inside its old place but remove what moved (no local change to keep there).
  for (const a of planned) {
    const from = a.type === "download" ? a.entry.movedFrom : undefined;
    if (from === undefined || a.type !== "download") continue;
    if (a.entry.kind === "dir" && planned.some((b) => isInside(b.path, from) && b.type !== "delete_local" && b.type !== "record")) continue;
    plan.renames.push(a.entry);
  }

  for (const a of planned) {
    if (covered.has(a.path) || quiet.held.has(a.path)) continue;
    switch (a.type) {
      case "download":
      case "conflict_copy": {
        // The side that won a conflict hears of it too: the loser's copy arrives as a new file.
        const host = a.entry.kind === "file" && !synced.has(a.path) ? conflictCopyHost(a.path) : undefined;
        plan.local.push(host === undefined ? a : { ...a, conflictHost: host });
        break;
      }
      case "delete_local":
      case "record":
        plan.local.push(a);
        break;
      case "upload": {
        const c = content.get(a.path)!;
        const base = synced.get(a.path)?.entry;
        const splice = base?.kind === "file" && c.kind === "file" && a.baseVersion > 0 && base.version === a.baseVersion
          ? diffBlocks(base.version, base.blocks, c.blocks)
          : undefined;
        const step: RemoteStep = { type: "upload", path: a.path, baseVersion: a.baseVersion, content: c };
        plan.remote.push(splice && splice.insert.length < c.blocks.length ? { ...step, splice } : step);
        break;
      }
      case "delete_remote":
        plan.remote.push(a);
        break;
      case "none":
        break;
    }
  }
  return plan;
}

/**
 * Pairs a vanished synced path with a new local path holding the same inode: that is a move.
 * For folders, everything below both paths is covered by the move (the next pass re-checks
 * the new folder's contents). Returns the covered paths.
 */
function _findMoves<S extends Found>(
  actions: Action[],
  found: ReadonlyMap<string, S>,
  synced: ReadonlyMap<string, Base<S>>,
  content: ReadonlyMap<string, Content>,
  moves: Move[],
): Set<string> {
  const gone = new Map<number, Base<S>>();
  for (const a of actions) {
    if (a.type !== "delete_remote") continue;
    const s = synced.get(a.path);
    if (s) gone.set(s.stat.ino, s);
  }
  const covered = new Set<string>();
  const movedDirs: [string, string][] = [];
  for (const a of actions) {
    if (a.type !== "upload" || a.baseVersion !== 0 || synced.has(a.path)) continue;
    if (movedDirs.some(([, to]) => isInside(a.path, to))) continue;
    const st = found.get(a.path);
    const was = st && gone.get(st.ino);
    if (!was || was.entry.kind !== st.kind) continue;
    if (st.kind === "file" && content.get(a.path)?.hash !== was.entry.hash) continue;
    gone.delete(st.ino);
    moves.push({ from: was.entry.path, to: a.path, baseVersion: was.entry.version, kind: st.kind });
    covered.add(a.path);
    covered.add(was.entry.path);
    if (st.kind === "dir") movedDirs.push([was.entry.path, a.path]);
  }
  for (const a of actions) {
    if (movedDirs.some(([from, to]) => isInside(a.path, from) || isInside(a.path, to))) covered.add(a.path);
  }
  return covered;
}

/**
 * Local deletions of more than `massDeleteLimit` paths and over half the folder (an unmounted
 * disk, a stray `rm -rf`) are held until the user confirms exactly that set. Deletions found
 * later are judged on their own, so a small one still goes through during a hold. A held path
 * the user restored is no longer held.
 */
function _holdMassDeletion<S extends Found>(
  planned: Action[],
  found: ReadonlyMap<string, S>,
  moved: ReadonlySet<string>,
  input: PlanInput<S>,
): { held: ReadonlySet<string>; newlyHeld: number } {
  const { confirmed } = input.state;
  let held = input.state.held;
  if ([...held].some((p) => found.has(p))) held = new Set([...held].filter((p) => !found.has(p)));
  const fresh = planned
    .filter((a) => a.type === "delete_remote" && !moved.has(a.path) && !held.has(a.path) && !confirmed.has(a.path))
    .map((a) => a.path);
  if (!isMassDelete(fresh.length, input.treeSize, input.policy.massDeleteLimit)) return { held, newlyHeld: 0 };
  return { held: new Set([...held, ...fresh]), newlyHeld: fresh.length };
}

/**
 * Local deletions wait until none has appeared for DELETE_QUIET_MS: a sync folder being
 * removed (`rm -rf`, an unmount) deletes its files first and `.dropsim/` whenever readdir
 * order says, and what was sent before the folder was found gone would be lost everywhere.
 */
function _holdDeletions<S extends Found>(
  paths: string[],
  found: ReadonlyMap<string, S>,
  synced: ReadonlyMap<string, Base<S>>,
  input: PlanInput<S>,
): { held: ReadonlySet<string>; seen: ReadonlyMap<string, number>; lookAgainAt?: number } {
  const { now } = input;
  const deleting = new Set(paths);
  const seen = new Map(input.state.deletionsSeen);
  for (const p of seen.keys()) {
    // Looked at this pass and no longer a deletion (restored, or deleted remotely too).
    if ((found.has(p) || synced.has(p)) && !deleting.has(p)) seen.delete(p);
  }
  for (const p of paths) if (!seen.has(p)) seen.set(p, now);
  let last = 0;
  for (const t of seen.values()) last = Math.max(last, t);
  const quietFor = now - last;
  if (paths.length === 0 || quietFor >= DELETE_QUIET_MS) {
    for (const p of paths) seen.delete(p);
    return { held: new Set(), seen };
  }
  return { held: deleting, seen, lookAgainAt: now + DELETE_QUIET_MS - quietFor };
}

/** What is here of an excluded path, as the scan found it and the index last synced it. */
export interface ExcludedCopy<S extends Found> {
  /** Every entry at or below the path on disk. */
  found: ReadonlyMap<string, S>;
  /** The merge base of every path at or below it. */
  synced: ReadonlyMap<string, Base<S>>;
}

/**
 * Whether the local copy of a newly excluded path can go: only when nothing in it changed
 * since it was last synced (`same` compares a stat with its fingerprint). A file new here, or
 * changed, would be lost with it: the copy is kept and those paths are named. A file deleted
 * here is no loss: the server still has it.
 */
export function planExclude<S extends Found>(copy: ExcludedCopy<S>, same: (synced: S, now: S) => boolean): { remove: boolean; keptChanged: string[] } {
  const keptChanged: string[] = [];
  for (const [p, st] of copy.found) {
    const base = copy.synced.get(p);
    if (!base || base.entry.kind !== st.kind || !same(base.stat, st)) keptChanged.push(p);
  }
  return { remove: keptChanged.length === 0, keptChanged: keptChanged.sort() };
}

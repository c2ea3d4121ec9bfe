import { type Content, type Entry, sameContent } from "../core/entry.ts";
import { diffBlocks, expandEntry, type WireEntry } from "../core/block-splice.ts";
import { DropsimError, describeError } from "../core/errors.ts";
import { type Action, reconcile } from "../core/reconcile.ts";
import { isMassDelete } from "../core/mass-delete.ts";
import { WriteSettle } from "../core/write-settle.ts";
import { conflictCopyHost } from "../core/conflict-name.ts";
import { isInside } from "../core/wire-path.ts";
import { sameXattrs, type XattrSet } from "../core/xattrs.ts";
import type { MessageOf, OpResult, ServerMessage } from "../protocol/messages.ts";
import { type LocalStat, statLocal } from "../fsutil/scan.ts";
import { type Download, makeFolder, moveAside, removeLocal, renameMoved, writeFiles } from "./apply-remote.ts";
import { writeSymlink } from "./apply-symlink.ts";
import type { SyncContext } from "./context.ts";
import { moveFolderAsOne } from "./folder-move.ts";
import { Problems } from "./problems.ts";
import { sameStat, type Synced } from "./local-index.ts";
import { absPath, type LocalView, PASS_FILES, readLocalView } from "./local-view.ts";
import type { Changed, ServerPeer } from "./server-link.ts";
import { type PlannedOp, uploadBatch } from "./upload.ts";

const PAGE = 1000;
const HELD_KEY = "held_deletions";
/** Server-side failures that can clear up (disk space freed, blocks lost in a crash re-sent). */
const RETRYABLE = new Set(["missing_blocks", "disk_full", "io", "internal"]);
const RETRY_MS = 2000;
/** Longer than the watcher's own latency (~50 ms on Linux), short enough to feel immediate. */
const RECHECK_MS = 300;
/** How long local deletions must stop appearing before they are sent. */
const DELETE_QUIET_MS = 1000;

/**
 * The sync loop's state between passes: remote news not yet applied, local paths to look at,
 * and the journal cursor. A pass plans with the pure reconciler and carries the plan out.
 *
 * Invariant: `cursor` (persisted) ≤ `remoteHead`; every journal change in (cursor, remoteHead]
 * is either applied or waiting in `remote`. The cursor moves only after a pass applied all of it.
 */
export class SyncEngine {
  private remote = new Map<string, Entry>();
  private remoteHead: number;
  private needPull = true;
  private dirty = new Set<string>();
  /**
   * Changed files earlier passes had no budget to read, in the order found; each pass takes the
   * next PASS_FILES. (Marking them all dirty made every pass stat and look up every file still
   * waiting: the first sync of 100,000 files took 558 s.)
   */
  private waiting = new Set<string>();
  /** Remote news that could not be applied; retried after a pause, and the cursor waits for it. */
  private deferred = new Map<string, Entry>();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Files being written wait until quiet instead of becoming a version per look. */
  private readonly writes = new WriteSettle();
  /** Puts sent whose reply has not come: what we uploaded, in case the reply is lost. */
  private readonly inflight = new Map<string, { kind: Entry["kind"]; hash: string; xattrs?: XattrSet; stat: LocalStat }>();
  /** Local deletions held as a mass deletion, kept in state.db across restarts. */
  private readonly held: Set<string>;
  /** Held deletions the user confirmed at start: sent, once. */
  private readonly confirmed: Set<string>;
  /** Set when the server cannot be trusted to continue what this folder synced (see `connected`). */
  private rebaseOnto: { serverId: string; why: string } | undefined;
  /** Entries that cannot be synced: reported once each, retried with backoff. */
  private readonly problems: Problems;
  /** Files that sync without part of what they hold (see `note`), with the reason last warned of. */
  private readonly notes = new Map<string, string>();
  /** Local deletions not sent yet, with when each was first seen. */
  private deletionsSeen = new Map<string, number>();

  constructor(private readonly ctx: SyncContext) {
    this.remoteHead = this.cursor;
    this.problems = new Problems(ctx.log);
    const held = JSON.parse(ctx.index.getMeta(HELD_KEY) ?? "[]") as string[];
    this.confirmed = new Set(ctx.confirmDeletes ? held : []);
    this.held = new Set(ctx.confirmDeletes ? [] : held);
    if (ctx.confirmDeletes) {
      ctx.log.info(`Sending the ${held.length} deletions held by the last run, as confirmed`);
      ctx.index.setMeta(HELD_KEY, "[]");
    }
  }

  get cursor(): number {
    return Number(this.ctx.index.getMeta("cursor") ?? 0);
  }

  get hasWork(): boolean {
    return this.needPull || this.dirty.size > 0 || this.remote.size > 0 || this.waiting.size > 0;
  }

  /** Nothing known left to do, nothing waiting for a retry. */
  get idle(): boolean {
    return !this.hasWork && this.deferred.size === 0;
  }

  markDirty(path: string): void {
    if (path === "" || this.dirty.has("")) {
      this.dirty = new Set([""]);
      return;
    }
    this.dirty.add(path);
  }

  /**
   * A server that is not the one this folder synced with (a new id), or one whose journal ends
   * before our cursor (restored from an older backup), would make the three-tree planner read
   * our files as changes to undo: it gets what we hold instead (`rebase`).
   */
  connected(server: { serverId: string; head: number }): void {
    this.needPull = true;
    const known = this.ctx.index.getMeta("server_id");
    if (known === undefined) this.ctx.index.setMeta("server_id", server.serverId);
    else if (known !== server.serverId) this.rebaseOnto = { serverId: server.serverId, why: "the server is not the server this folder synced with (its id changed)" };
    else if (server.head < this.cursor) {
      this.rebaseOnto = {
        serverId: server.serverId,
        why: `the server was restored from an older backup (its journal ends at change ${server.head}, this folder had seen ${this.cursor})`,
      };
    }
  }

  /**
   * Takes the server's whole tree as news and makes every synced file that is still here look
   * changed against it: the planner then uploads what differs (on top of the server's version,
   * which stays in its history), downloads only what is missing here, and deletes nothing on
   * either side. One transaction with the new cursor and server id, so a crash repeats it.
   */
  private async rebase(peer: ServerPeer, why: string, serverId: string): Promise<void> {
    this.ctx.log.warn(`Not trusting what this folder last synced: ${why}. Nothing here is deleted or overwritten because of it; what the server lacks is uploaded again.`);
    this.remote = new Map();
    this.deferred.clear();
    this.remoteHead = 0;
    await this.pull(peer);
    const synced = this.ctx.index.all();
    const here = new Map<string, LocalStat | undefined>();
    for (const s of synced) here.set(s.entry.path, await statLocal(absPath(this.ctx.root, s.entry.path)).catch(() => undefined));
    this.ctx.index.transaction(() => {
      for (const s of synced) {
        const theirs = this.remote.get(s.entry.path);
        const st = here.get(s.entry.path);
        if (theirs && !theirs.deleted && st && st.kind === theirs.kind) this.ctx.index.put(theirs, { ...st, mtimeMs: -1 });
        else this.ctx.index.remove(s.entry.path);
      }
      this.ctx.index.setMeta("cursor", "0");
      this.ctx.index.setMeta("server_id", serverId);
    });
    this.markDirty("");
  }

  /**
   * A push from the server: applied directly when it continues what we have, else we pull.
   * A push tells block lists as splices of the previous version; one whose base we do not hold
   * is pulled too (pulls carry whole lists).
   */
  changed(m: Changed): void {
    if (m.from > this.remoteHead) {
      this.needPull = true;
      return;
    }
    // By path: a folder move pushes an entry per file (a list searched per entry took 5 s
    // for 10,000 files).
    const news = new Map<string, Entry>();
    for (const w of m.entries) {
      if (w.version <= this.remoteHead) continue;
      const earlier = news.get(w.path);
      // Only a splice needs the versions we hold (each one an index lookup).
      const e = w.splice === undefined ? expandEntry(w, []) : expandEntry(w, earlier ? [earlier, ...this.known(w.path)] : this.known(w.path));
      if (!e) {
        this.needPull = true;
        return;
      }
      news.set(e.path, e);
    }
    for (const e of news.values()) this.remote.set(e.path, e);
    this.remoteHead = Math.max(this.remoteHead, m.head);
  }

  /** The versions of `path` we hold: news not applied yet, and what was last synced. */
  private known(path: string): Entry[] {
    const out: Entry[] = [];
    for (const e of [this.remote.get(path), this.deferred.get(path), this.ctx.index.get(path)?.entry]) if (e) out.push(e);
    return out;
  }

  private expand(w: WireEntry): Entry {
    const e = expandEntry(w, this.known(w.path));
    if (!e) throw new DropsimError("bad_message", `Server sent "${w.path}" as a splice of version ${w.splice?.base}, which this replica does not hold`);
    return e;
  }

  private async pull(peer: ServerPeer): Promise<void> {
    // Cleared first: a push handled while a reply is on its way (a push is handled at once, a
    // reply only when the awaiting code resumes) may ask for another pull, which must stand
    // (soak seed 1568690548 lost a file for good when this was cleared at the end).
    this.needPull = false;
    try {
      for (;;) {
        const page = await peer.request<MessageOf<ServerMessage, "changes_result">>({ type: "changes", since: this.remoteHead, limit: PAGE });
        for (const e of page.entries) this.remote.set(e.path, this.expand(e));
        const last = page.entries.at(-1)?.version ?? this.remoteHead;
        this.remoteHead = page.more ? last : Math.max(last, page.head, this.remoteHead);
        if (!page.more) break;
      }
    } catch (e) {
      this.needPull = true;
      throw e;
    }
  }

  /** One round: take the news, look at the folder, plan, apply. Throws if the connection fails. */
  async pass(peer: ServerPeer): Promise<void> {
    if (this.rebaseOnto) {
      await this.rebase(peer, this.rebaseOnto.why, this.rebaseOnto.serverId);
      this.rebaseOnto = undefined;
    }
    if (this.needPull) await this.pull(peer);
    let taken = 0;
    for (const p of this.waiting) {
      if (taken++ >= PASS_FILES) break;
      this.waiting.delete(p);
      this.markDirty(p);
    }
    const remote = this.remote;
    // News of a path supersedes what was deferred for it: retrying the older entry after the
    // newer one applied would bring back a file moved or deleted since (found by the
    // convergence test, seed 1274097272).
    for (const [p, e] of remote) if ((this.deferred.get(p)?.version ?? Infinity) <= e.version) this.deferred.delete(p);
    const passHead = this.remoteHead;
    const dirty = this.dirty;
    this.remote = new Map();
    this.dirty = new Set();
    let remoteFailed: Entry[] = [];
    try {
      const now = performance.now();
      this.writes.prune(now);
      const view = await readLocalView(this.ctx, dirty, new Set(remote.keys()), this.writes, now);
      this.clearProblems(view, dirty);
      remoteFailed = await this.execute(peer, remote, view);
    } catch (e) {
      // Nothing is lost: the news and the dirty paths go back for the next pass.
      for (const [p, e2] of remote) if (!this.remote.has(p)) this.remote.set(p, e2);
      for (const p of dirty) this.markDirty(p);
      throw e;
    }
    for (const e of remoteFailed) this.defer(e);
    if (this.remote.size === 0 && this.deferred.size === 0 && passHead > this.cursor) {
      this.ctx.index.setMeta("cursor", String(passHead));
    }
  }

  /**
   * Files read again and found as synced (only their ctime moved, or a touch) keep their new
   * stat as fingerprint, so they are not read at every pass that looks at them; so do files
   * whose fingerprint was taken before our own rename, with the ctime it left.
   */
  private refreshFingerprints(remote: Map<string, Entry>, view: LocalView): void {
    this.ctx.index.transaction(() => {
      for (const [p, st] of view.ctimes) this.ctx.index.setStat(p, st);
      // Attributes read for the first time and found as synced (none): not read again.
      for (const [p, s] of view.synced) if (s.xattrsUnread && sameContent(view.content.get(p), s.entry)) this.ctx.index.setXattrsRead(p);
      for (const [p, content] of view.content) {
        const synced = view.synced.get(p);
        const st = view.stat.get(p);
        if (!synced || !st || st.kind !== "file" || remote.has(p) || sameStat(synced.stat, st)) continue;
        if (sameContent(content, synced.entry)) this.ctx.index.setStat(p, st);
      }
    });
  }

  /**
   * Local deletions of more than `massDeleteLimit` paths and over half the folder (an unmounted
   * disk, a stray `rm -rf`) are held: kept in state.db until the user confirms exactly that
   * set (`--confirm-deletes`, once). Deletions found later are judged on their own, so a small
   * one still goes through during a hold. Returns the plan without what stays held.
   */
  private holdMassDeletion(planned: Action[], view: LocalView, moved: Set<string>): Action[] {
    const { ctx } = this;
    const before = this.held.size;
    // Restored by the user meanwhile: no longer held.
    for (const p of view.stat.keys()) this.held.delete(p);
    const fresh = planned
      .filter((a) => a.type === "delete_remote" && !moved.has(a.path) && !this.held.has(a.path) && !this.confirmed.has(a.path))
      .map((a) => a.path);
    if (isMassDelete(fresh.length, ctx.index.count(), ctx.massDeleteLimit)) {
      for (const p of fresh) this.held.add(p);
      ctx.log.warn(
        `Holding ${fresh.length} local deletions (more than half of the folder): not deleting them on the server. ` +
          `If they are intended, stop this client and run: dropsim sync ${ctx.root} --confirm-deletes`,
      );
    }
    if (this.held.size !== before) ctx.index.setMeta(HELD_KEY, JSON.stringify([...this.held]));
    return planned.filter((a) => a.type !== "delete_remote" || this.confirmed.has(a.path) || !this.held.has(a.path));
  }

  /**
   * Puts whose reply was lost with the connection may have committed. When the server's news
   * shows our content at such a path, it is ours: it becomes the merge base, so a deletion or
   * edit made since is planned against it (without this, a file deleted after its upload was
   * cut off came back as "new on the server": soak seed 179888428).
   */
  private claimOwnCommits(remote: Map<string, Entry>, view: LocalView): void {
    for (const [p, e] of remote) {
      const sent = this.inflight.get(p);
      if (!sent) continue;
      this.inflight.delete(p);
      const synced = view.synced.get(p);
      if (e.deleted || e.kind !== sent.kind || e.hash !== sent.hash || !sameXattrs(e.xattrs, sent.xattrs) || e.version <= (synced?.entry.version ?? 0)) continue;
      const claimed = { entry: e, stat: sent.stat };
      this.ctx.index.put(e, sent.stat);
      view.synced.set(p, claimed);
    }
  }

  /** Problems of entries this pass found syncable again, or gone, are over. */
  private clearProblems(view: LocalView, dirty: Set<string>): void {
    for (const p of [...this.problems.paths()]) {
      if (view.unreadable.has(p) || view.skipped.has(p) || view.settling.has(p)) continue;
      if (view.stat.has(p)) this.problems.clear(p);
      else if (dirty.has("") || dirty.has(p) || [...dirty].some((d) => isInside(p, d))) this.problems.clear(p, true);
    }
  }

  /** Retrying at once would spin on an entry that cannot be written (a symlinked folder, a full disk). */
  private defer(e: Entry): void {
    const newer = this.remote.get(e.path) ?? this.deferred.get(e.path);
    if (newer && newer.version > e.version) return;
    this.deferred.set(e.path, e);
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      const due = this.deferred;
      this.deferred = new Map();
      for (const [p, d] of due) {
        const newer = this.remote.get(p);
        if (!newer || newer.version < d.version) this.remote.set(p, d);
        this.ctx.markDirty(p);
      }
    }, RETRY_MS);
    this.retryTimer.unref?.();
  }

  stop(): void {
    clearTimeout(this.retryTimer);
  }

  private async execute(peer: ServerPeer, remote: Map<string, Entry>, view: LocalView): Promise<Entry[]> {
    const { ctx } = this;
    const failed: Entry[] = [];
    // Paths left out of this pass are planned for by nobody: their news waits, the cursor too.
    const leaveOut = (p: string): Entry | undefined => {
      const news = remote.get(p);
      view.stat.delete(p);
      remote.delete(p);
      view.synced.delete(p);
      return news;
    };
    for (const p of view.later) {
      const news = leaveOut(p);
      if (news && !this.remote.has(p)) this.remote.set(p, news);
      this.waiting.add(p);
    }
    for (const [p, ms] of view.settling) {
      this.lookAgainIn(ms, [p]);
      const news = leaveOut(p);
      if (news) failed.push(news);
    }
    // Entries that cannot be synced, and all below them, stay as they are on both sides: a
    // folder we cannot list is not a deleted folder.
    const cannot = [...view.unreadable, ...view.skipped];
    for (const [p, why] of cannot) this.lookAgainIn(this.problems.report(p, why), [p]);
    for (const [p, why] of view.notes) this.note(p, why);
    if (cannot.length > 0) {
      const inside = (q: string) => cannot.some(([p]) => q === p || isInside(q, p));
      for (const q of new Set([...view.stat.keys(), ...view.synced.keys(), ...remote.keys()])) {
        if (!inside(q)) continue;
        const news = leaveOut(q);
        if (news) failed.push(news);
      }
    }
    this.claimOwnCommits(remote, view);
    const synced = new Map<string, Entry>();
    for (const [p, s] of view.synced) synced.set(p, s.entry);
    // A remote entry for an ignored path stays remote: we never plan for what we cannot see.
    let planned = reconcile(remote, view.content, synced).filter((a) => !isIgnoredAction(ctx, a, view));
    this.refreshFingerprints(remote, view);
    // A folder moved is not a folder deleted: moves are found before deletions are counted.
    const moves = findMoves(planned, view);
    planned = this.holdMassDeletion(planned, view, moves.covered);

    const downloads: Download[] = [];
    const ops: PlannedOp[] = [];
    const now = new Date();
    const held = this.holdDeletions(
      planned.filter((a) => a.type === "delete_remote" && !moves.covered.has(a.path)).map((a) => a.path),
      view,
    );

    // Moves made elsewhere are renames here, done first: the tombstones of their old paths
    // (removals below) would otherwise delete the bytes the rename can reuse.
    const renamed = new Set<string>();
    for (const a of planned) {
      if (a.type !== "download" || renamed.has(a.path)) continue;
      if (a.entry.kind === "dir") {
        const handled = await moveFolderAsOne(ctx, a.entry, planned, view, remote);
        for (const p of handled) renamed.add(p);
        // News a moved file did not match (edited elsewhere meanwhile) is planned afresh next pass.
        for (const p of handled) {
          const news = remote.get(p);
          if (news && ctx.index.get(p)?.entry.version !== news.version) this.remote.set(p, news);
        }
      } else if (await renameMoved(ctx, { entry: a.entry, expect: view.stat.get(a.path) })) renamed.add(a.path);
    }
    // `planned` lists removals (deepest first) before writes (shallowest first).
    for (const a of planned) {
      if (moves.covered.has(a.path) || renamed.has(a.path) || held.has(a.path)) continue;
      try {
        await this.applyLocal(a, view, now, downloads, ops, failed);
      } catch (e) {
        // One path we cannot touch (a symlinked folder, permissions) must not stop the rest.
        this.problems.report(a.path, `cannot apply the ${a.type.replace("_", " ")}: ${describeError(e)}`);
        if ("entry" in a) failed.push(a.entry);
        else this.lookAgainIn(RETRY_MS, [a.path]);
      }
    }
    failed.push(...(await writeFiles(ctx, peer, downloads, (p, why) => this.note(p, why))).map((d) => d.entry));
    const written = downloads.filter((d) => !failed.includes(d.entry)).map((d) => d.entry.path);
    // The side that won a conflict hears of it too: the loser's copy arrives as a new file.
    for (const p of written) {
      const host = view.synced.has(p) ? undefined : conflictCopyHost(p);
      if (host !== undefined) ctx.log.warn(`Conflict: "${p}" holds the version ${host} kept of a file changed on two replicas at once`);
    }
    // The watcher coalesces events: a file we just wrote and the user deleted within its
    // latency window can produce no event at all. One more look, a moment later, closes that gap.
    this.lookAgainIn(RECHECK_MS, written);

    const allOps = [...moves.ops, ...ops];
    if (allOps.length > 0) {
      for (const { op, content } of allOps) {
        const st = op.op === "put" ? view.stat.get(op.path) : undefined;
        if (op.op === "put" && st) this.inflight.set(op.path, { kind: op.kind, hash: content?.hash ?? "", xattrs: op.xattrs, stat: st });
      }
      const results = await uploadBatch(ctx, peer, allOps);
      for (const { op } of allOps) if (op.op === "put") this.inflight.delete(op.path);
      for (let i = 0; i < allOps.length; i++) await this.settle(allOps[i]!, results[i], view);
    }
    return failed;
  }

  /**
   * Local deletions wait until none has appeared for a moment: a sync folder being removed
   * (`rm -rf`, an unmount) deletes its files first and `.dropsim/` whenever readdir order says,
   * and what was sent before the folder was found gone would be lost everywhere. Returns the
   * paths to hold back this pass.
   */
  private holdDeletions(paths: string[], view: LocalView): Set<string> {
    const now = Date.now();
    const deleting = new Set(paths);
    for (const p of this.deletionsSeen.keys()) {
      // Looked at this pass and no longer a deletion (restored, or deleted remotely too).
      if ((view.stat.has(p) || view.synced.has(p)) && !deleting.has(p)) this.deletionsSeen.delete(p);
    }
    for (const p of paths) if (!this.deletionsSeen.has(p)) this.deletionsSeen.set(p, now);
    const quietFor = now - Math.max(0, ...this.deletionsSeen.values());
    if (paths.length === 0 || quietFor >= DELETE_QUIET_MS) {
      for (const p of paths) this.deletionsSeen.delete(p);
      return new Set();
    }
    this.lookAgainIn(DELETE_QUIET_MS - quietFor, paths);
    return deleting;
  }

  /** Marks `paths` dirty after `ms`: for what cannot be decided now but may be soon. */
  private lookAgainIn(ms: number, paths: string[]): void {
    if (paths.length === 0) return;
    setTimeout(() => {
      for (const p of paths) this.ctx.markDirty(p);
    }, ms).unref?.();
  }

  private async applyLocal(a: Action, view: LocalView, now: Date, downloads: Download[], ops: PlannedOp[], failed: Entry[]): Promise<void> {
    const { ctx } = this;
    switch (a.type) {
      case "delete_local":
        if (!(await removeLocal(ctx, a.entry, view.stat.get(a.path)))) {
          ctx.markDirty(a.path);
          failed.push(a.entry);
        }
        break;
      case "record":
        if (a.entry.deleted) ctx.index.remove(a.path);
        else {
          const st = view.stat.get(a.path);
          if (st) ctx.index.put(a.entry, st);
        }
        break;
      case "download": {
        let expect = view.stat.get(a.path);
        if (expect && expect.kind !== a.entry.kind) {
          // Replaced by a folder, or a folder by a file, on the other side: our copy (unchanged,
          // or the plan would keep it) makes way first, unless it changed since the plan.
          if (!(await removeLocal(ctx, { ...a.entry, kind: expect.kind }, expect))) {
            failed.push(a.entry);
            break;
          }
          expect = undefined;
        }
        if (a.entry.kind === "dir") await this.makeFolder(a.entry, failed);
        else if (a.entry.kind === "symlink") await this.makeSymlink(a.entry, expect, failed);
        else downloads.push({ entry: a.entry, expect });
        break;
      }
      case "conflict_copy":
        await moveAside(ctx, a.path, now);
        if (a.entry.kind === "dir") await this.makeFolder(a.entry, failed);
        else if (a.entry.kind === "symlink") await this.makeSymlink(a.entry, undefined, failed);
        else downloads.push({ entry: a.entry, expect: undefined });
        break;
      case "upload": {
        const content = view.content.get(a.path)!;
        const st = view.stat.get(a.path)!;
        const base = view.synced.get(a.path)?.entry;
        // An edit of a synced file sends only the changed part of its block list.
        const splice = base?.kind === "file" && content.kind === "file" && a.baseVersion > 0 && base.version === a.baseVersion
          ? diffBlocks(base.version, base.blocks, content.blocks)
          : undefined;
        const list = splice && splice.insert.length < content.blocks.length ? { splice } : { blocks: content.blocks };
        ops.push({
          op: { op: "put", path: a.path, kind: content.kind, baseVersion: a.baseVersion, size: content.size, mode: content.mode, hash: content.hash, ...list, mtime: st.mtimeMs, target: content.target, xattrs: content.kind === "file" && content.xattrs?.length ? content.xattrs : undefined },
          content: content.kind === "file" ? content : undefined,
          bytes: view.small.get(a.path),
        });
        break;
      }
      case "delete_remote":
        ops.push({ op: { op: "delete", path: a.path, baseVersion: a.baseVersion } });
        break;
      case "none":
        break;
    }
  }

  /**
   * Warns once that `path` syncs without part of what it holds (extended attributes past the
   * limit, or names this system cannot take); again only if the reason changes. The file syncs.
   */
  private note(path: string, why: string): void {
    if (this.notes.get(path) === why) return;
    this.notes.set(path, why);
    this.ctx.log.warn(`"${path}": ${why}`);
  }

  private async makeFolder(entry: Entry, failed: Entry[]): Promise<void> {
    if (await makeFolder(this.ctx, entry)) this.ctx.folderAppeared(entry.path);
    else failed.push(entry);
  }

  private async makeSymlink(entry: Entry, expect: LocalStat | undefined, failed: Entry[]): Promise<void> {
    if (!(await writeSymlink(this.ctx, entry, expect))) failed.push(entry);
  }

  /** Records one entry the server accepted from us; `st` is what the path holds now. */
  private record(e: Entry, st: LocalStat | undefined, view: LocalView): void {
    const { ctx } = this;
    if (e.deleted) {
      ctx.index.remove(e.path);
      // A confirmation covers one deletion of each path, not a later one of the same name.
      this.confirmed.delete(e.path);
      return;
    }
    if (!st || st.kind !== e.kind) {
      this.markDirty(e.path);
      return;
    }
    const old = e.movedFrom ? view.synced.get(e.movedFrom) : undefined;
    if (old && e.kind === "file") {
      // A moved file keeps its fingerprint only if it was not touched on the way.
      const touched = old.stat.ino !== st.ino || old.stat.mtimeMs !== st.mtimeMs || old.stat.size !== st.size;
      const fingerprint = touched ? { ...st, mtimeMs: -1 } : st;
      if (old.entry.hash !== e.hash) {
        // The server moved a newer version than ours (edited elsewhere meanwhile). Ours stays
        // the merge base, at no version, and theirs is news: the planner downloads it, or
        // keeps both if ours changed too.
        const { size, mode, hash, blocks, xattrs } = old.entry;
        ctx.index.put({ ...e, size, mode, hash, blocks, xattrs, version: 0 }, fingerprint);
        this.remote.set(e.path, e);
        this.markDirty(e.path);
        return;
      }
      ctx.index.put(e, fingerprint);
      if (touched) this.markDirty(e.path);
      return;
    }
    ctx.index.put(e, st);
  }

  /** Records what the server answered for one of our ops. */
  private async settle(p: PlannedOp, result: OpResult | undefined, view: LocalView): Promise<void> {
    const { ctx } = this;
    const op = p.op;
    const path = op.op === "move" ? op.to : op.path;
    if (!result) return;
    if (result.status === "error") {
      const retry = RETRYABLE.has(result.code);
      ctx.log.warn(`Server refused ${op.op} of "${path}": ${result.message}${retry ? "; will retry" : ""}`);
      if (retry) this.lookAgainIn(RETRY_MS, [path]);
      return;
    }
    if (result.status === "conflict") {
      // Someone else changed it first: their entry becomes news, and the planner decides again.
      const current = result.current;
      if (op.op === "move") {
        ctx.index.remove(op.from);
        this.markDirty(op.from);
        this.markDirty(op.to);
      } else this.markDirty(path);
      if (current) this.remote.set(current.path, this.expand(current));
      return;
    }
    const entries = result.entries.map((w) => this.expand(w));
    const stats = new Map<string, LocalStat | undefined>();
    for (const e of entries) if (!e.deleted) stats.set(e.path, view.stat.get(e.path) ?? (await statLocal(absPath(ctx.root, e.path))));
    // One transaction for the whole result: a folder move answers with an entry per file
    // (10,000 files: 4.8 s as one transaction each).
    ctx.index.transaction(() => {
      for (const e of entries) this.record(e, stats.get(e.path), view);
    });
    if (op.op === "move") this.markDirty(op.to);
    if (op.op === "put" && op.kind === "dir") ctx.folderAppeared(op.path);
    ctx.log.debug(`Uploaded ${op.op} "${path}" → version ${result.entries.at(-1)?.version ?? "-"}`);
  }
}

function isIgnoredAction(ctx: SyncContext, a: Action, view: LocalView): boolean {
  if (a.type !== "delete_remote" && a.type !== "upload") return false;
  const st = view.stat.get(a.path);
  return ctx.ignored(a.path, (st?.kind ?? view.synced.get(a.path)?.entry.kind) === "dir");
}

/**
 * Pairs a vanished synced path with a new local path holding the same inode: that is a move,
 * sent as one op so no byte is uploaded again. For folders, everything below both paths is
 * covered by the move (the next pass re-checks the new folder's contents).
 */
function findMoves(actions: Action[], view: LocalView): { ops: PlannedOp[]; covered: Set<string> } {
  const gone = new Map<number, Synced>();
  for (const a of actions) {
    if (a.type !== "delete_remote") continue;
    const s = view.synced.get(a.path);
    if (s) gone.set(s.stat.ino, s);
  }
  const ops: PlannedOp[] = [];
  const covered = new Set<string>();
  const movedDirs: [string, string][] = [];
  for (const a of actions) {
    if (a.type !== "upload" || a.baseVersion !== 0 || view.synced.has(a.path)) continue;
    if (movedDirs.some(([, to]) => isInside(a.path, to))) continue;
    const st = view.stat.get(a.path);
    const was = st && gone.get(st.ino);
    if (!was || was.entry.kind !== st.kind) continue;
    const content: Content | undefined = view.content.get(a.path);
    if (st.kind === "file" && content?.hash !== was.entry.hash) continue;
    gone.delete(st.ino);
    ops.push({ op: { op: "move", from: was.entry.path, to: a.path, baseVersion: was.entry.version } });
    covered.add(a.path);
    covered.add(was.entry.path);
    if (st.kind === "dir") movedDirs.push([was.entry.path, a.path]);
  }
  for (const a of actions) {
    if (movedDirs.some(([from, to]) => isInside(a.path, from) || isInside(a.path, to))) covered.add(a.path);
  }
  return { ops, covered };
}


import { type Entry, sameContent } from "../core/entry.ts";
import { expandEntry, type WireEntry } from "../core/block-splice.ts";
import { DropsimError, describeError } from "../core/errors.ts";
import * as fs from "node:fs/promises";
import { isExcluded, makeIgnoreRules } from "../core/ignore-rules.ts";
import { type LocalStep, type PassState, type Plan, planExclude, planPass, type RemoteStep, type Sent, type Skipped } from "../core/plan-pass.ts";
import { WriteSettle } from "../core/write-settle.ts";
import { isInside } from "../core/wire-path.ts";
import type { MessageOf, OpResult, ServerMessage } from "../protocol/messages.ts";
import { type LocalStat, scanTree, statLocal } from "../fsutil/scan.ts";
import { type Download, forgetRemoved, makeFolder, type Moved, moveAside, recordMoved, recordPlaced, removeLocal, renameMoved } from "./apply-remote.ts";
import { writeFiles } from "./download-batch.ts";
import { writeSymlink } from "./apply-symlink.ts";
import type { SyncContext } from "./context.ts";
import { moveFolderAsOne } from "./folder-move.ts";
import { Problems } from "./problems.ts";
import { recordOnDisk } from "./record.ts";
import { sameStat, type Synced } from "./local-index.ts";
import { absPath, type LocalView, PASS_FILES, readLocalView } from "./local-view.ts";
import type { EventOf } from "./events.ts";
import type { ExcludeOutcome } from "./control.ts";
import type { Changed, ServerPeer } from "./server-link.ts";
import { EarlyUploads, type PlannedOp, uploadBatch } from "./upload.ts";

const PAGE = 1000;
const HELD_KEY = "held_deletions";
/** Server-side failures that can clear up (disk space freed, blocks lost in a crash re-sent). */
const RETRYABLE = new Set(["missing_blocks", "disk_full", "io", "internal"]);
const RETRY_MS = 2000;
/** Longer than the watcher's own latency (~50 ms on Linux), short enough to feel immediate. */
const RECHECK_MS = 300;

/**
 * The sync loop's state between passes: remote news not yet applied, local paths to look at,
 * and the journal cursor. A pass plans with the pure planner (core/plan-pass.ts) and carries
 * the plan out; the clock it plans with is passed in.
 *
 * Invariant: `cursor` (persisted) ≤ `remoteHead`; every journal change in (cursor, remoteHead]
 * is either applied or waiting in `remote`. The cursor moves only after a pass applied all of it.
 */
export class SyncEngine {
  private remote = new Map<string, Entry>();
  private remoteHead: number;
  private needPull = true;
  private dirty = new Set<string>();
  /** Second looks scheduled and not yet due (see `idle`). */
  private looksDue = 0;
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
  private readonly inflight = new Map<string, Sent<LocalStat>>();
  /** What the planner remembers between passes (held deletions are kept in state.db too). */
  private state: PassState;
  /** Set when the server cannot be trusted to continue what this folder synced (see `connected`). */
  private rebaseOnto: { serverId: string; why: string } | undefined;
  /** Entries that cannot be synced: reported once each, retried with backoff. */
  private readonly problems: Problems;
  /** Files that sync without part of what they hold (see `note`), with the reason last warned of. */
  private readonly notes = new Map<string, string>();
  /** The token of the current connection only reads (welcome's scope): nothing is sent. */
  private readOnly = false;
  /** Local changes a read-only share does not take, each told once while it stays here. */
  private readonly notUploaded = new Set<string>();
  /** Selective sync: paths left out here (kept in state.db). */
  private excluded: string[];
  /** Paths included again: their server entries are fetched once, and forgotten once applied. */
  private including: string[];
  private includesFetched = false;

  /** `clock`: milliseconds, monotonic; what the planner measures waits with. */
  constructor(
    private readonly ctx: SyncContext,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.remoteHead = this.cursor;
    this.problems = new Problems(ctx.emit);
    this.excluded = ctx.index.excluded();
    this.including = ctx.index.pendingIncludes();
    const held = JSON.parse(ctx.index.getMeta(HELD_KEY) ?? "[]") as string[];
    this.state = { deletionsSeen: new Map(), held: new Set(ctx.confirmDeletes ? [] : held), confirmed: new Set(ctx.confirmDeletes ? held : []) };
    if (ctx.confirmDeletes) {
      ctx.emit({ type: "confirmed_deletions", count: held.length });
      ctx.index.setMeta(HELD_KEY, "[]");
    }
  }

  get cursor(): number {
    return Number(this.ctx.index.getMeta("cursor") ?? 0);
  }

  get hasWork(): boolean {
    const including = this.including.length > 0 && !this.includesFetched;
    return this.needPull || including || this.dirty.size > 0 || this.remote.size > 0 || this.waiting.size > 0;
  }

  /**
   * Nothing known left to do, nothing waiting for a retry or a second look (a file still being
   * written, a download checked again): "up to date" is said only once those are done too. A
   * path reported as a problem retries on its own backoff and does not hold idleness back.
   */
  get idle(): boolean {
    return !this.hasWork && this.deferred.size === 0 && this.looksDue === 0;
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
  connected(server: { serverId: string; head: number; scope: "read_write" | "read_only" }): void {
    this.needPull = true;
    this.readOnly = server.scope === "read_only";
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
    this.ctx.emit({ type: "rebase", why });
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

  /**
   * A cursor older than what the server's retention kept (`cursor_expired`) cannot be continued:
   * the changes since were dropped. The same server's whole current tree is taken as news
   * instead (a pull from 0 is always served) against what this folder last synced, so the
   * planner downloads what changed there, uploads what changed here, and makes conflict copies
   * of both; unlike `rebase`, a file merely stale here does not overwrite the newer one. A
   * synced path the listing no longer has (its tombstone dropped too) is forgotten, so it is
   * uploaded again: nothing is deleted because of a gap in the journal.
   */
  private async pullOrResync(peer: ServerPeer): Promise<void> {
    try {
      await this.pull(peer);
      return;
    } catch (e) {
      if (!(e instanceof DropsimError && e.code === "cursor_expired")) throw e;
    }
    this.ctx.emit({ type: "rebase", why: `the server no longer keeps the changes after ${this.remoteHead} that this folder last saw (its retention dropped them), so the whole folder is compared with the server's` });
    this.remote = new Map();
    this.deferred.clear();
    this.remoteHead = 0;
    await this.pull(peer);
    this.ctx.index.transaction(() => {
      for (const s of this.ctx.index.all()) if (!this.remote.has(s.entry.path)) this.ctx.index.remove(s.entry.path);
    });
    this.markDirty("");
  }

  /**
   * Selective sync: `path` is no longer synced here. Its local copy goes if nothing in it
   * changed since last synced (else it stays, named in the outcome). Call between passes.
   */
  async exclude(path: string): Promise<ExcludeOutcome> {
    this.ctx.index.exclude(path);
    this.excluded = this.ctx.index.excluded();
    this.including = this.ctx.index.pendingIncludes();
    const outcome = await dropExcludedCopy(this.ctx, path);
    this.ctx.emit({ type: "excluded", path, ...outcome });
    return outcome;
  }

  /** Undoes `exclude`: the next pass fetches the server's entries for `path`. Call between passes. */
  include(path: string): void {
    if (!this.ctx.index.include(path)) return;
    this.excluded = this.ctx.index.excluded();
    this.including = this.ctx.index.pendingIncludes();
    this.includesFetched = false;
    this.ctx.emit({ type: "included", path });
  }

  get excludedPaths(): readonly string[] {
    return this.excluded;
  }

  /**
   * The server's current entries under the paths included again, as news: the cursor moved
   * past them while they were excluded. Only what the journal held up to `remoteHead`; later
   * changes come with the next pull as usual.
   */
  private async fetchIncluded(peer: ServerPeer): Promise<void> {
    const wanted = (p: string) => isExcluded(this.including, p) && !isExcluded(this.excluded, p);
    let since = 0;
    for (;;) {
      const page = await peer.request<MessageOf<ServerMessage, "changes_result">>({ type: "changes", since, limit: PAGE });
      for (const w of page.entries) {
        if (w.version > this.remoteHead || !wanted(w.path)) continue;
        const e = this.expand(w);
        if ((this.remote.get(e.path)?.version ?? 0) < e.version) this.remote.set(e.path, e);
      }
      since = page.entries.at(-1)?.version ?? since;
      if (!page.more) break;
    }
    this.includesFetched = true;
    for (const p of this.including) this.markDirty(p);
  }

  /** One round: take the news, look at the folder, plan, apply. Throws if the connection fails. */
  async pass(peer: ServerPeer): Promise<void> {
    if (this.rebaseOnto) {
      await this.rebase(peer, this.rebaseOnto.why, this.rebaseOnto.serverId);
      this.rebaseOnto = undefined;
    }
    if (this.needPull) await this.pullOrResync(peer);
    if (this.including.length > 0 && !this.includesFetched) await this.fetchIncluded(peer);
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
    // A read-only folder uploads nothing, and an excluded path is never committed.
    const early = this.readOnly ? undefined : new EarlyUploads(this.ctx, peer);
    const uploadEarly = early && ((p: string, st: LocalStat) => (isExcluded(this.excluded, p) ? undefined : early.start(p, st)));
    try {
      const now = this.clock();
      this.writes.prune(now);
      const view = await readLocalView(this.ctx, dirty, remote, this.writes, now, this.attended(), uploadEarly);
      this.clearProblems(view, dirty);
      remoteFailed = await this.execute(peer, remote, view, now, early);
    } catch (e) {
      // Nothing is lost: the news and the dirty paths go back for the next pass.
      for (const [p, e2] of remote) if (!this.remote.has(p)) this.remote.set(p, e2);
      for (const p of dirty) this.markDirty(p);
      throw e;
    } finally {
      // None outlives its pass: the next one's uploadBatch would send their blocks again.
      await early?.settled();
    }
    for (const e of remoteFailed) this.defer(e);
    if (this.remote.size === 0 && this.deferred.size === 0) {
      if (passHead > this.cursor) this.ctx.index.setMeta("cursor", String(passHead));
      // Kept until applied: a crash before then fetches them again at the next start.
      if (this.includesFetched) this.forgetIncludes();
    }
  }

  /**
   * Files read again and found as synced (only their ctime moved, or a touch) keep their new
   * stat as fingerprint, so they are not read at every pass that looks at them; so do files
   * whose fingerprint was taken before our own rename, with the ctime it left.
   */
  private refreshFingerprints(remote: ReadonlyMap<string, Entry>, view: LocalView): void {
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
   * Paths this engine keeps state about, which a pass must plan even when they are unchanged:
   * held or pending deletions (a path back is no longer one), puts in flight, problems (one
   * found again clears), local changes a read-only share did not take.
   */
  private attended(): (path: string) => boolean {
    const { held, deletionsSeen, confirmed } = this.state;
    const problems = new Set(this.problems.paths());
    return (p) => held.has(p) || deletionsSeen.has(p) || confirmed.has(p) || this.inflight.has(p) || problems.has(p) || this.notUploaded.has(p);
  }

  /**
   * The synced entries a mass deletion is measured against. Counting them reads all of
   * state.db (14 ms over 100,000 entries, at each of the 200 passes of a first sync), so they
   * are counted only when this pass could hold one: when more synced paths vanished than the
   * limit. Otherwise no count makes a mass deletion of the few there are.
   */
  private treeSize(view: LocalView): number {
    let vanished = 0;
    for (const p of view.synced.keys()) if (!view.stat.has(p)) vanished++;
    return vanished > this.ctx.massDeleteLimit ? this.ctx.index.count() : Number.POSITIVE_INFINITY;
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

  private forgetIncludes(): void {
    this.ctx.index.setPendingIncludes(this.ctx.index.pendingIncludes().filter((p) => !this.including.includes(p)));
    this.including = [];
    this.includesFetched = false;
  }

  stop(): void {
    clearTimeout(this.retryTimer);
  }

  /** Plans the pass (core/plan-pass.ts) and carries the plan out; returns the news that could not be applied. */
  private async execute(peer: ServerPeer, remote: Map<string, Entry>, view: LocalView, now: number, early: EarlyUploads | undefined): Promise<Entry[]> {
    const { ctx } = this;
    const plan = planPass({
      remote,
      local: view,
      synced: view.synced,
      treeSize: this.treeSize(view),
      inflight: this.inflight,
      state: this.state,
      policy: { ignored: ctx.ignored, massDeleteLimit: ctx.massDeleteLimit, readOnly: this.readOnly, excluded: (p) => isExcluded(this.excluded, p) },
      now,
    });
    if (plan.next.held !== this.state.held) ctx.index.setMeta(HELD_KEY, JSON.stringify([...plan.next.held]));
    this.state = plan.next;
    if (plan.newlyHeld > 0) ctx.emit({ type: "held_deletions", count: plan.newlyHeld, root: ctx.root });
    let waiting = this.waiting.size;
    for (const p of view.later) if (!this.waiting.has(p)) waiting++;
    ctx.emit({ ..._passPlanned(plan), waiting });

    const failed: Entry[] = [...plan.deferred];
    for (const e of plan.kept) if (!this.remote.has(e.path)) this.remote.set(e.path, e);
    for (const s of plan.skipped) {
      if (s.reason === "later") this.waiting.add(s.path);
      else if ((s.reason === "unreadable" || s.reason === "cannot_sync") && s.under === undefined) this.lookAgainIn(this.problems.report(s.path, s.why!), [s.path], false);
    }
    for (const { at, paths } of plan.lookAgain) this.lookAgainIn(at - now, paths);
    this.tellNotUploaded(plan.skipped, view);
    for (const [p, why] of view.notes) this.note(p, why);
    // News of a path settles what we sent there: it was ours (claimed) or someone else's.
    for (const p of plan.news.keys()) this.inflight.delete(p);
    for (const e of plan.claims) recordOnDisk(ctx, e, plan.synced.get(e.path)!.stat);
    // The view as planned with: nothing left out of the pass is looked at while carrying it out.
    const passView: LocalView = { ...view, stat: plan.stat, synced: plan.synced };
    this.refreshFingerprints(plan.news, passView);

    // Renames first: the tombstones of moved paths would delete the bytes a rename can reuse.
    const renamed = new Set<string>();
    const moved: Moved[] = [];
    for (const entry of plan.renames) {
      if (renamed.has(entry.path)) continue;
      if (entry.kind === "dir") {
        const handled = await moveFolderAsOne(ctx, entry, plan.local, passView, plan.news);
        for (const p of handled) renamed.add(p);
        // News a moved file did not match (edited elsewhere meanwhile) is planned afresh next pass.
        for (const p of handled) {
          const news = plan.news.get(p);
          if (news && ctx.index.get(p)?.entry.version !== news.version) this.remote.set(p, news);
        }
      } else {
        const m = await renameMoved(ctx, { entry, expect: passView.stat.get(entry.path) });
        if (m) {
          moved.push(m);
          renamed.add(entry.path);
        }
      }
    }
    await recordMoved(ctx, moved);
    const done: Done = { downloads: [], removed: [], placed: [] };
    const date = new Date();
    for (const a of plan.local) {
      if (renamed.has(a.path)) continue;
      try {
        await this.applyLocal(a, passView, date, done, failed);
      } catch (e) {
        // One path we cannot touch (a symlinked folder, permissions) must not stop the rest.
        this.problems.report(a.path, `cannot apply the ${a.type.replace("_", " ")}: ${describeError(e)}`);
        failed.push(a.entry);
      }
    }
    await forgetRemoved(ctx, done.removed);
    // Before the downloads: a folder made is durable before anything is written into it.
    await recordPlaced(ctx, done.placed);
    const { downloads } = done;
    failed.push(...(await writeFiles(ctx, peer, downloads, (p, why) => this.note(p, why))).map((d) => d.entry));
    const written = new Set(downloads.filter((d) => !failed.includes(d.entry)).map((d) => d.entry.path));
    for (const a of plan.local) {
      if ("conflictHost" in a && a.conflictHost !== undefined && written.has(a.path)) ctx.emit({ type: "conflict", path: a.path, copy: a.path, side: "remote", host: a.conflictHost });
    }
    // The watcher coalesces events: a file we just wrote and the user deleted within its
    // latency window can produce no event at all. One more look, a moment later, closes that gap.
    this.lookAgainIn(RECHECK_MS, [...written]);

    const ops: PlannedOp[] = [
      ...plan.moves.map(({ from, to, baseVersion }): PlannedOp => ({ op: { op: "move", from, to, baseVersion } })),
      ...plan.remote.map((s) => _opFor(s, passView)),
    ];
    if (ops.length > 0) {
      for (const { op, content } of ops) {
        const st = op.op === "put" ? passView.stat.get(op.path) : undefined;
        if (op.op === "put" && st) this.inflight.set(op.path, { kind: op.kind, hash: content?.hash ?? "", xattrs: op.xattrs, stat: st });
      }
      // The server is asked only about blocks the early uploads did not send, once they are done.
      await early?.settled();
      const results = await uploadBatch(ctx, peer, ops, early);
      for (const { op } of ops) if (op.op === "put") this.inflight.delete(op.path);
      const deleted = new Set<string>();
      const answers: Answer[] = [];
      for (let i = 0; i < ops.length; i++) answers.push(await this.answerOf(ops[i]!, results[i], passView));
      // One transaction for the whole batch: 500 small files at one transaction each spent
      // more time committing state.db than uploading.
      ctx.index.transaction(() => {
        for (const a of answers) this.settle(a, passView, deleted);
      });
      // A confirmation covers one deletion of each path, not a later one of the same name.
      if ([...deleted].some((p) => this.state.confirmed.has(p))) {
        this.state = { ...this.state, confirmed: new Set([...this.state.confirmed].filter((p) => !deleted.has(p))) };
      }
    }
    return failed;
  }

  /** A path looked at again and no longer left out (synced, downloaded over, gone) is told of again next time. */
  private tellNotUploaded(skipped: readonly Skipped[], view: LocalView): void {
    const left = new Set(skipped.filter((s) => s.reason === "read_only").map((s) => s.path));
    // A path left out for another reason this pass (a file still being written) is undecided, not cleared.
    const undecided = new Set(skipped.map((s) => s.path));
    for (const p of this.notUploaded) {
      if (undecided.has(p) || !(view.stat.has(p) || view.synced.has(p))) continue;
      this.notUploaded.delete(p);
      this.ctx.emit({ type: "not_uploaded_cleared", path: p });
    }
    for (const p of left) {
      if (this.notUploaded.has(p)) continue;
      this.notUploaded.add(p);
      this.ctx.emit({ type: "not_uploaded", path: p, reason: "read-only share" });
    }
  }

  /** Marks `paths` dirty after `ms`: for what cannot be decided now but may be soon. `due`: idleness waits for it. */
  private lookAgainIn(ms: number, paths: string[], due = true): void {
    if (paths.length === 0) return;
    if (due) this.looksDue++;
    setTimeout(() => {
      if (due) this.looksDue--;
      for (const p of paths) this.ctx.markDirty(p);
    }, ms).unref?.();
  }

  /** Carries out one local step; what is left to do after the pass's steps goes to `done`. */
  private async applyLocal(a: LocalStep, view: LocalView, date: Date, done: Done, failed: Entry[]): Promise<void> {
    const { ctx } = this;
    const { downloads } = done;
    switch (a.type) {
      case "delete_local":
        if (!(await removeLocal(ctx, a.entry, view.stat.get(a.path), (p) => done.removed.push(p)))) {
          ctx.markDirty(a.path);
          failed.push(a.entry);
        }
        break;
      case "record":
        if (a.entry.deleted) ctx.index.remove(a.path);
        else {
          recordOnDisk(ctx, a.entry, view.stat.get(a.path));
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
        if (a.entry.kind === "dir") await this.makeFolder(a.entry, done.placed, failed);
        else if (a.entry.kind === "symlink") await this.makeSymlink(a.entry, expect, done.placed, failed);
        else downloads.push({ entry: a.entry, expect });
        break;
      }
      case "conflict_copy":
        await moveAside(ctx, a.path, date);
        if (a.entry.kind === "dir") await this.makeFolder(a.entry, done.placed, failed);
        else if (a.entry.kind === "symlink") await this.makeSymlink(a.entry, undefined, done.placed, failed);
        else downloads.push({ entry: a.entry, expect: undefined });
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
    this.ctx.emit({ type: "note", path, reason: why });
  }

  private async makeFolder(entry: Entry, placed: Synced[], failed: Entry[]): Promise<void> {
    if (await makeFolder(this.ctx, entry, placed)) this.ctx.folderAppeared(entry.path);
    else failed.push(entry);
  }

  private async makeSymlink(entry: Entry, expect: LocalStat | undefined, placed: Synced[], failed: Entry[]): Promise<void> {
    if (!(await writeSymlink(this.ctx, entry, expect, placed))) failed.push(entry);
  }

  /** Records one entry the server accepted from us; `st` is what the path holds now. Deletions go to `deleted`. */
  private record(e: Entry, st: LocalStat | undefined, view: LocalView, deleted: Set<string>): void {
    const { ctx } = this;
    if (e.deleted) {
      ctx.index.remove(e.path);
      deleted.add(e.path);
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
        recordOnDisk(ctx, { ...e, size, mode, hash, blocks, xattrs, version: 0 }, fingerprint);
        this.remote.set(e.path, e);
        this.markDirty(e.path);
        return;
      }
      recordOnDisk(ctx, e, fingerprint);
      if (touched) this.markDirty(e.path);
      return;
    }
    recordOnDisk(ctx, e, st);
  }

  /** The server's answer to one of our ops, with the entries it committed and what their paths hold now. */
  private async answerOf(p: PlannedOp, result: OpResult | undefined, view: LocalView): Promise<Answer> {
    const answer: Answer = { op: p.op, result, entries: [], stats: new Map() };
    if (result?.status === "conflict" && result.current) answer.entries = [this.expand(result.current)];
    if (result?.status !== "ok") return answer;
    answer.entries = result.entries.map((w) => this.expand(w));
    for (const e of answer.entries) if (!e.deleted) answer.stats.set(e.path, view.stat.get(e.path) ?? (await statLocal(absPath(this.ctx.root, e.path))));
    return answer;
  }

  /** Records what the server answered for one of our ops. */
  private settle({ op, result, entries, stats }: Answer, view: LocalView, deleted: Set<string>): void {
    const { ctx } = this;
    const path = op.op === "move" ? op.to : op.path;
    if (!result) return;
    if (result.status === "error") {
      const retry = RETRYABLE.has(result.code);
      ctx.emit({ type: "refused", op: op.op, path, code: result.code, message: result.message, retry });
      if (retry) this.lookAgainIn(RETRY_MS, [path]);
      return;
    }
    if (result.status === "conflict") {
      // Someone else changed it first: their entry becomes news, and the planner decides again.
      if (op.op === "move") {
        ctx.index.remove(op.from);
        this.markDirty(op.from);
        this.markDirty(op.to);
      } else this.markDirty(path);
      for (const e of entries) this.remote.set(e.path, e);
      return;
    }
    for (const e of entries) this.record(e, stats.get(e.path), view, deleted);
    if (op.op === "move") this.markDirty(op.to);
    if (op.op === "put" && op.kind === "dir") ctx.folderAppeared(op.path);
    const version = result.entries.at(-1)?.version;
    ctx.emit({ type: "committed", op: op.op, path, version });
    if (op.op === "put" && op.kind === "file") ctx.emit({ type: "file_done", path, direction: "upload", bytes: op.size, version: version ?? 0 });
  }
}

/** What carrying out a pass's local steps left to do after them. */
interface Done {
  downloads: Download[];
  /** Removed from the disk, to forget once durable (`forgetRemoved`). */
  removed: string[];
  /** Folders and links made, to record once durable (`recordPlaced`). */
  placed: Synced[];
}

/** The server's answer to one op, read before the batch's answers are recorded in one transaction. */
interface Answer {
  op: PlannedOp["op"];
  result: OpResult | undefined;
  /** The entries an accepted op committed, or the one a conflict found at its path. */
  entries: Entry[];
  /** What the path of each entry still present holds now. */
  stats: Map<string, LocalStat | undefined>;
}

/** What the status and the benchmarks see of a plan: how much travels which way. */
function _passPlanned(plan: Plan<LocalStat>): EventOf<"pass_planned"> {
  let downloads = 0;
  let downloadBytes = 0;
  let conflicts = 0;
  let deletions = 0;
  for (const a of plan.local) {
    if (a.type === "conflict_copy") conflicts++;
    if (a.type === "delete_local") deletions++;
    else if ((a.type === "download" || a.type === "conflict_copy") && a.entry.kind === "file") {
      downloads++;
      downloadBytes += a.entry.size;
    }
  }
  let uploads = 0;
  let uploadBytes = 0;
  for (const s of plan.remote) {
    if (s.type === "delete_remote") deletions++;
    else if (s.content.kind === "file") {
      uploads++;
      uploadBytes += s.content.size;
    }
  }
  return { type: "pass_planned", downloads, downloadBytes, uploads, uploadBytes, deletions, moves: plan.moves.length, conflicts, held: plan.next.held.size };
}

/** The op a remote step sends, with the stat the plan saw and the bytes kept from hashing. */
function _opFor(s: RemoteStep, view: LocalView): PlannedOp {
  if (s.type === "delete_remote") return { op: { op: "delete", path: s.path, baseVersion: s.baseVersion } };
  const { content, path } = s;
  const st = view.stat.get(path)!;
  const list = s.splice ? { splice: s.splice } : { blocks: content.blocks };
  return {
    op: { op: "put", path, kind: content.kind, baseVersion: s.baseVersion, size: content.size, mode: content.mode, hash: content.hash, ...list, mtime: st.mtimeMs, target: content.target, xattrs: content.kind === "file" && content.xattrs?.length ? content.xattrs : undefined },
    content: content.kind === "file" ? content : undefined,
    bytes: view.small.get(path),
  };
}

/**
 * Removes the local copy of a newly excluded path, with its synced state, when nothing in it
 * changed since last synced (core/plan-pass.ts planExclude); otherwise leaves it all as is.
 * Files ignored by the folder's own rules count as changes (they were never synced, and would
 * be lost); only the default junk (.DS_Store, swap files) goes with the folder. Also used by
 * `dropsim exclude` when no client runs.
 */
export async function dropExcludedCopy(ctx: Pick<SyncContext, "root" | "index" | "foldsNames">, path: string): Promise<ExcludeOutcome> {
  const tree = await scanTree(ctx.root, path, makeIgnoreRules(), true, ctx.foldsNames);
  const synced = new Map<string, Synced>();
  const own = ctx.index.get(path);
  if (own) synced.set(path, own);
  for (const s of ctx.index.under(path)) synced.set(s.entry.path, s);
  const plan = planExclude({ found: tree.stats, synced }, sameStat);
  // An entry the scan could not read (a folder it cannot list) may hold anything: kept.
  const keptChanged = [...plan.keptChanged, ...tree.skipped.keys()].sort();
  if (keptChanged.length > 0) return { removed: false, keptChanged };
  await fs.rm(absPath(ctx.root, path), { recursive: true, force: true });
  ctx.index.transaction(() => {
    for (const p of synced.keys()) ctx.index.remove(p);
  });
  return { removed: tree.stats.size > 0, keptChanged: [] };
}

import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { describeError, DropsimError } from "../core/errors.ts";
import { isExcluded, makeIgnoreRules, selectivePath } from "../core/ignore-rules.ts";
import { STATE_DIR } from "../core/wire-path.ts";
import { TempDirs } from "../fsutil/temp-dirs.ts";
import type { Runtime, WatchSubscription } from "../runtime/types.ts";
import type { Log } from "../core/log.ts";
import { BlockFetcher } from "./block-fetcher.ts";
import { Prefetcher } from "./prefetch.ts";
import type { DiskFloor, SyncContext } from "./context.ts";
import { type Emit, type SyncEvent, SyncEvents } from "./events.ts";
import { LocalIndex } from "./local-index.ts";
import { logSink } from "./log-sink.ts";
import { ServerLink, backoffDelay, isFinal } from "./server-link.ts";
import type { HeartbeatTimes } from "../protocol/peer.ts";
import { foldStatus, initialStatus, type StatusSnapshot } from "./status.ts";
import type { RateLimits } from "../core/rate.ts";
import type { Controlled, ExcludeOutcome } from "./control.ts";
import { serveControl } from "./control-server.ts";
import type { LocalListener } from "../fsutil/local-socket.ts";
import { PausedError, Throttle } from "./rate-limit.ts";
import { SyncEngine } from "./sync-engine.ts";
import { watchFolder } from "./watch.ts";

/** How long closing waits for the pass in flight and the watcher: Ctrl+C stops within a second. */
const CLOSE_WAIT_MS = 600;
/** Folders appearing in one burst share one new watcher subscription... */
const RESUBSCRIBE_MS = 100;
/**
 * ...and bursts a second apart at most one, as each reads the whole tree twice (the watcher's
 * walk, then our rescan: 0.3 s + 0.4 s for 100,000 files here). In bigger trees the gap grows
 * with the walk, so a stream of new folders costs a bounded share of a core.
 */
const RESUBSCRIBE_GAP_MS = 1000;
const RESUBSCRIBE_GAP_PER_WALK = 20;
/**
 * The user's ignore rules (gitignore syntax): the share's own at the top of the folder (it
 * syncs, so every client of the share follows it), and this folder's alone in its state folder
 * (never synced). Both apply.
 */
const IGNORE_FILE = ".dropsimignore";
const IGNORE_FILES = [IGNORE_FILE, `${STATE_DIR}/ignore`];
/** The state.db meta key holding when the folder and the server last agreed (ms since the epoch). */
export const LAST_SYNC_META = "last_sync";

export interface SyncOptions {
  root: string;
  server: { host: string; port: number };
  /** The share to sync and the token that lets us, sent in hello. */
  share?: string;
  token?: string;
  /** TLS 1.3 with the server's certificate pinned; false only for plain TCP to loopback (the caller checks). */
  tls: boolean;
  /** The server certificate to insist on (`SHA256:…`); undefined: trust the first one shown. */
  fingerprint?: string;
  /** The server took us: what to remember (the share it gave, the certificate it showed if TLS). */
  joined?(welcome: { share: string; scope: "read_write" | "read_only" }, fingerprint: string | undefined): void;
  runtime: Runtime;
  /** Where the client's events are written as log lines (client/log-sink.ts). */
  log: Log;
  rescanIntervalMs: number;
  /** Infinity once the user confirmed (--allow-mass-delete). */
  massDeleteLimit: number;
  /** How often to ping a quiet connection and when to call it dead (the defaults unless tests shorten them). */
  heartbeat?: HeartbeatTimes;
  /** How long connecting and the hello may take together (the default unless tests shorten it). */
  handshakeMs?: number;
  /** Send the deletions held by an earlier run (and only those). */
  confirmDeletes: boolean;
  /** Free space downloads leave on the folder's disk. */
  minDiskFree: DiskFloor;
  /** Paths to exclude from now on (sync --exclude), added to those state.db keeps. */
  exclude?: string[];
  /** Bandwidth limits for this run (sync --limit-up/--limit-down), over those state.db keeps. */
  limits?: Partial<RateLimits>;
}

export interface RunningClient extends Controlled {
  /** Subscribes to everything the client does; returns the unsubscribe function. */
  events(listener: (event: SyncEvent) => void): () => void;
  /**
   * Resolves when the client stopped trying for good (a refused token, another server
   * identity, another protocol): it already said why. The caller closes it and exits.
   */
  readonly stopped: Promise<DropsimError>;
  close(): Promise<void>;
}

/**
 * Keeps `root` in sync with the server: a watcher and a periodic rescan mark paths dirty,
 * pushes bring news, and one worker runs sync passes one at a time, so local and remote
 * changes are never applied concurrently.
 */
export async function startSyncClient(opts: SyncOptions): Promise<RunningClient> {
  const root = path.resolve(opts.root);
  const events = new SyncEvents();
  const { emit } = events;
  events.on(logSink(opts.log));
  let status = initialStatus();
  events.on((e) => (status = foldStatus(status, e, Date.now())));
  const stateDir = path.join(root, STATE_DIR);
  const tmpRoot = path.join(stateDir, "tmp");
  const tmpDirs = await TempDirs.prepare(tmpRoot);

  const index = new LocalIndex(opts.runtime.openDatabase(path.join(stateDir, "state.db")));
  let clientId = index.getMeta("client_id");
  if (!clientId) {
    clientId = crypto.randomUUID();
    index.setMeta("client_id", clientId);
  }
  // When the folder and the server last agreed, for `dropsim status` while the client is not running too.
  const lastSync = Number(index.getMeta(LAST_SYNC_META));
  if (lastSync > 0) status = { ...status, lastSync };
  events.on((e) => e.type === "idle" && index.setMeta(LAST_SYNC_META, String(Date.now())));
  // Paused, selective sync and limits as `dropsim pause/exclude/limit` left them.
  const throttle = new Throttle({ ...index.limits(), ...opts.limits });
  throttle.setPaused(index.paused());
  status = { ...status, excluded: index.excluded(), limits: throttle.limits };
  if (throttle.isPaused) emit({ type: "paused" });
  const ignoreTexts = new Map<string, string>();
  const ignoreWarned = new Set<string>();
  for (const file of IGNORE_FILES) {
    const text = (await readIgnoreFile(root, file, emit, ignoreWarned)) ?? "";
    ignoreTexts.set(file, text);
    if (countRules(text) > 0) emit({ type: "ignore_rules", rules: countRules(text), file });
  }
  const ignoreRules = () => makeIgnoreRules([...ignoreTexts.values()].join("\n"));
  const fetcher = new BlockFetcher();
  let wake: () => void = () => {};
  const ctx: SyncContext = {
    root,
    tmpDirs,
    hostName: os.hostname(),
    clientId,
    index,
    ignored: ignoreRules(),
    fetcher,
    throttle,
    emit,
    runtime: opts.runtime,
    massDeleteLimit: opts.massDeleteLimit,
    confirmDeletes: opts.confirmDeletes,
    minDiskFree: opts.minDiskFree,
    waitingForSpace: new Set(),
    foldsNames: await foldsNames(tmpRoot),
    markDirty: (p) => {
      engine.markDirty(p);
      wake();
    },
    // FSEvents and ReadDirectoryChangesW watch whole trees; only inotify watches folder by folder.
    folderAppeared: () => {
      if (os.platform() === "linux") scheduleResubscribe(Math.max(RESUBSCRIBE_MS, nextResubscribe - performance.now()));
    },
  };
  const engine = new SyncEngine(ctx);
  const prefetcher = new Prefetcher(ctx, (p) => !isExcluded(engine.excludedPaths, p) && !ctx.ignored(p, false));
  ctx.prefetcher = prefetcher;
  engine.markDirty("");
  for (const p of opts.exclude ?? []) {
    const wire = selectivePath(p);
    if (!engine.excludedPaths.includes(wire)) await engine.exclude(wire);
  }

  /**
   * The ignore files are read again before every pass, never during one: a pass that scanned
   * with the old rules and filtered with the new could take a file the old rules hid for
   * deleted, and delete it everywhere. Before every pass, not on watcher events alone: the
   * shared one also changes by download, and the local one lies where nothing is watched.
   */
  const rereadIgnoreFiles = async () => {
    let changed = false;
    for (const file of IGNORE_FILES) {
      const text = await readIgnoreFile(root, file, emit, ignoreWarned);
      if (text === undefined || text === ignoreTexts.get(file)) continue;
      ignoreTexts.set(file, text);
      changed = true;
      emit({ type: "ignore_rules", rules: countRules(text), file });
    }
    if (!changed) return;
    ctx.ignored = ignoreRules();
    // Files no longer ignored are found and uploaded. Files newly ignored stay as synced, here
    // and everywhere: the engine sends no upload or deletion for an ignored path.
    engine.markDirty("");
  };
  /** A full rescan, the safety net for missed watcher events. */
  const rescanAll = () => ctx.markDirty("");
  /**
   * Passes, and what must not run during one (selective sync changes the index and the
   * folder), take turns here.
   */
  let turn: Promise<unknown> = Promise.resolve();
  const betweenPasses = <T>(fn: () => Promise<T>): Promise<T> => {
    const mine = turn.then(fn);
    turn = mine.catch(() => {});
    return mine;
  };

  let gaveUp: (e: DropsimError) => void = () => {};
  const stoppedForGood = new Promise<DropsimError>((resolve) => (gaveUp = resolve));
  const identity = { clientId, host: ctx.hostName, share: opts.share, token: opts.token, tls: opts.tls, fingerprint: opts.fingerprint };
  const link = new ServerLink(opts.runtime, opts.server, identity, emit, {
    connected: (_peer, welcome, fingerprint) => {
      opts.joined?.(welcome, fingerprint);
      engine.connected(welcome);
      engine.markDirty("");
      wake();
    },
    changed: (m) => {
      engine.changed(m);
      wake();
    },
    incoming: (peer, m) => prefetcher.incoming(peer, m),
    block: (hash, bytes) => fetcher.deliver(hash, bytes),
    disconnected: (e) => {
      fetcher.failAll(e);
      prefetcher.dropAll();
    },
    gaveUp: (e, presented) => {
      emit({ type: "stopped", code: e.code, reason: e.message, server: `${opts.server.host}:${opts.server.port}`, root, share: opts.share, presented });
      gaveUp(e);
    },
  }, { heartbeat: opts.heartbeat, handshakeMs: opts.handshakeMs });

  let stopped = false;
  /** Passes started so far: a flush waits for the end of one that started after it. */
  let passes = 0;
  /** Flushes waiting: a client closing answers them "not in sync" rather than at their deadline. */
  const flushes = new Set<(inSync: boolean) => void>();
  let failures = 0;
  const loop = (async () => {
    while (!stopped) {
      const peer = link.current;
      if (!peer || !engine.hasWork || throttle.isPaused) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      try {
        await betweenPasses(async () => {
          await assertRootIntact(root, stateDir);
          await rereadIgnoreFiles();
          passes++;
          await engine.pass(peer);
        });
        failures = 0;
        if (engine.idle) emit({ type: "idle", ...index.totals() });
      } catch (e) {
        if (stopped) break;
        // Paused mid-pass: what it had not done waits for `resume` (the loop waits above).
        if (e instanceof PausedError) continue;
        // A token revoked while we work is refused on our next request: no point retrying.
        if (isFinal(e)) {
          link.giveUp(e);
          continue;
        }
        const lost = e instanceof DropsimError && e.code === "closed";
        // Retry after a pause (the link reconnects on its own when the connection is gone).
        const delay = backoffDelay(failures++);
        if (!lost) emit({ type: "pass_failed", reason: describeError(e), retryInMs: delay });
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, delay);
        });
      }
    }
  })();

  const watch = () =>
    watchFolder(
      opts.runtime,
      root,
      (paths) => {
        for (const p of paths) engine.markDirty(p);
        wake();
      },
      (error) => {
        emit({ type: "warning", message: `File watcher error: ${error.message}; rescanning` });
        rescanAll();
      },
    );
  let subscription: WatchSubscription | undefined = await watch();
  /**
   * Linux's inotify watches one folder at a time: folders created in a burst (mkdir -p, an
   * unzip, our own downloads) can end up unwatched (parcel-bundler/watcher#97). A fresh
   * subscription reads the tree again and watches every folder. @parcel/watcher shares one
   * native watcher, and its tree, among subscriptions of the same folder, so a new one made
   * while the old lives would watch nothing more: the old one goes first. The rescan that
   * follows finds what changed in between and what the unwatched folders hid.
   */
  const resubscribe = async () => {
    if (stopped) return;
    const start = performance.now();
    try {
      await subscription?.unsubscribe();
      subscription = undefined;
      subscription = await watch();
      watchFailing = false;
      const end = performance.now();
      nextResubscribe = end + Math.max(RESUBSCRIBE_GAP_MS, (end - start) * RESUBSCRIBE_GAP_PER_WALK);
    } catch (e) {
      // Said once, not every second, while the folder stays unwatchable (gone, unmounted).
      if (!watchFailing) emit({ type: "warning", message: `Cannot watch ${root} again: ${describeError(e)}; retrying every ${RESUBSCRIBE_GAP_MS / 1000} s` });
      watchFailing = true;
      scheduleResubscribe(RESUBSCRIBE_GAP_MS);
    }
    rescanAll();
  };
  let resubscribeTimer: ReturnType<typeof setTimeout> | undefined;
  let nextResubscribe = 0;
  let watchFailing = false;
  /** One at a time: a folder appearing during one schedules the next. */
  let resubscribing = Promise.resolve();
  const scheduleResubscribe = (ms: number) => {
    resubscribeTimer ??= setTimeout(() => {
      resubscribeTimer = undefined;
      resubscribing = resubscribing.then(resubscribe);
    }, ms);
  };
  const rescan = setInterval(rescanAll, opts.rescanIntervalMs);
  link.start();

  let control: LocalListener | undefined;
  const client: RunningClient = {
    events: (listener) => events.on(listener),
    status: () => status,
    stopped: stoppedForGood,
    flush: (timeoutMs) => {
      const after = passes;
      if (stopped) return Promise.resolve(false);
      rescanAll();
      return new Promise<boolean>((resolve) => {
        const done = (inSync: boolean) => {
          clearTimeout(timer);
          off();
          flushes.delete(done);
          resolve(inSync);
        };
        flushes.add(done);
        const timer = setTimeout(() => done(false), timeoutMs);
        const off = events.on((e) => {
          if (e.type === "idle" && passes > after) done(status.upToDate);
          else if (e.type === "stopped") done(false);
        });
      });
    },
    pause: () => {
      if (throttle.isPaused) return;
      throttle.setPaused(true);
      index.setPaused(true);
      emit({ type: "paused" });
    },
    resume: () => {
      if (!throttle.isPaused) return;
      throttle.setPaused(false);
      index.setPaused(false);
      emit({ type: "resumed" });
      wake();
    },
    exclude: (p: string): Promise<ExcludeOutcome> => betweenPasses(() => engine.exclude(selectivePath(p))),
    include: (p: string) =>
      betweenPasses(async () => {
        engine.include(selectivePath(p));
        wake();
      }),
    setLimits: (limits: RateLimits) => {
      throttle.setLimits(limits);
      index.setLimits(limits);
      emit({ type: "limits", limits });
    },
    async close() {
      stopped = true;
      for (const done of flushes) done(false);
      // Hung up first: what waits on the server fails now, so the pass in flight ends at once
      // (a download leaves only its temp file, never seen; an upload not committed is sent next run).
      link.stop();
      prefetcher.dropAll();
      throttle.close();
      await control?.close();
      clearInterval(rescan);
      clearTimeout(resubscribeTimer);
      engine.stop();
      wake();
      const unwatched = resubscribing.then(() => subscription?.unsubscribe()).then(() => (subscription = undefined));
      // Ctrl+C stops within a second: a pass still in a local step (hashing a big file) ends at
      // its next request, after we are gone; every write it makes is atomic anyway.
      await Promise.race([Promise.all([loop, unwatched]), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS))]);
      void loop.then(() => index.close());
    },
  };
  // `dropsim status`, `pause`, … reach the client here; it syncs without (a path too long for a socket).
  control = await serveControl(root, client).catch((e) => {
    emit({ type: "warning", message: `Cannot open the control socket in ${stateDir}: ${describeError(e)}; dropsim status will say this client is not running` });
    return undefined;
  });
  return client;
}

/**
 * A folder that vanished (an unmounted disk) or lost its state dir must never read as
 * "everything was deleted": stop and say so instead.
 */
async function assertRootIntact(root: string, stateDir: string): Promise<void> {
  try {
    await fs.access(stateDir);
  } catch {
    throw new DropsimError("io", `Sync folder ${root} or its ${STATE_DIR}/ folder is gone; not syncing until it is back`);
  }
}

/**
 * True when the folder's file system finds a name under another case (macOS and Windows by
 * default, casefold on Linux). Asked once, in the temp folder: on the same disk, and emptied at
 * start should a crash leave the probe behind.
 */
async function foldsNames(tmpDir: string): Promise<boolean> {
  const probe = path.join(tmpDir, `CASE-PROBE-${crypto.randomUUID()}`);
  await fs.writeFile(probe, "");
  try {
    return await fs.access(path.join(tmpDir, path.basename(probe).toLowerCase())).then(() => true, () => false);
  } finally {
    await fs.rm(probe, { force: true });
  }
}

/**
 * The ignore file's text ("" when there is none), or undefined when it cannot be read now:
 * rules that vanish for a moment would upload everything they hid.
 */
async function readIgnoreFile(root: string, file: string, emit: Emit, warned: Set<string>): Promise<string | undefined> {
  try {
    const text = await fs.readFile(path.join(root, ...file.split("/")), "utf8");
    warned.delete(file);
    return text;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return "";
    // Read before every pass: said once until it can be read again.
    if (!warned.has(file)) emit({ type: "warning", message: `Cannot read ${file}: ${describeError(e)}; keeping the ignore rules in use` });
    warned.add(file);
    return undefined;
  }
}

/** Lines of gitignore syntax that are rules: not blank, not comments. */
function countRules(text: string): number {
  return text.split(/\r?\n/).filter((line) => line.trim() !== "" && !line.startsWith("#")).length;
}

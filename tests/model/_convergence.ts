import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { hashFile } from "../../src/fsutil/hash-file.ts";
import { expectFsckClean, prng } from "../crash/_lib.ts";
import { Cluster } from "../helpers/cluster.ts";
import { type FaultCounters, FaultProxy, type FaultProxyOptions } from "../helpers/fault-proxy.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { dumpLogs, type ServerProcess } from "../helpers/spawn-dropsim.ts";
import { diffTrees, snapshotTree, type Tree } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * Randomized convergence with real processes: one server, three clients (A, B, C), and a
 * random sequence of what people do to folders — create, rewrite, append, truncate, delete,
 * mkdir, rmdir, rename, move, the same file edited on two clients at once, a client going
 * offline and coming back, the server restarting or crashing.
 *
 * Every write carries a unique marker (`<m:A17>`). The harness knows which markers each
 * operation put in and which ones it *saw and removed* (a delete, a truncation, a rewrite
 * that left them out). After quiescence:
 *  - A, B and C hold byte-identical trees, and the server's entries match them (kind, size,
 *    content hash);
 *  - every marker written and never knowingly removed is in some file of the final tree
 *    (the file itself or a conflict copy): no write is dropped;
 *  - no temp file or `.dropsim` artifact is in the tree; `dropsim fsck` passes.
 *
 * File operations go through one file descriptor and check (fstat vs lstat) that the inode
 * they changed is still the one at the path, so a sync that replaced the file in between is
 * told apart from a lost write; deletions are renames out of the folder (atomic), so what
 * they removed is exactly what the harness then reads.
 *
 * With `faults`, clients reach the server through a fault proxy (tests/helpers/fault-proxy.ts)
 * seeded from the run, which delays, stalls and cuts their connections, mid-frame included.
 * The harness's own look at the server's entries goes to the server directly.
 */

export interface ConvergenceOptions {
  seed: number;
  runs: number;
  minOps: number;
  maxOps: number;
  /** Upper bound for the rare large files. */
  largeFileBytes: number;
  label: string;
  /**
   * The clients' --rescan-interval. A short one lets runs converge despite the file watcher
   * losing new folders (see watcher-gaps.test.ts), so they test the sync engine; "1h" leaves
   * everything to the watcher and finds such gaps too.
   */
  rescanInterval: string;
  /** Put a fault proxy with these settings between the clients and the server (see `faultsFor`). */
  faults?: Faults;
}

export type Faults = Omit<FaultProxyOptions, "target" | "seed">;

/**
 * The faults of a run through the proxy: about one chunk in 30 is cut inside and one in 30
 * stalls (up to 1.5 s, below the client's 30 s hang-up), so a run of 20–40 operations meets
 * several of each, in control frames too. Cuts are not made more frequent: a download cut
 * short starts again from zero, so a largest file would rarely get through, which is a limit
 * of the test rather than what it looks for.
 */
export function faultsFor(largeFileBytes: number): Faults {
  return { latencyMs: 1, jitterMs: 5, cutEveryBytes: 4 * largeFileBytes, cutChance: 0.03, stallChance: 0.03, stallMaxMs: 1500 };
}

/** What went wrong, for the soak's figures: a lost write, a failure to converge, or anything else. */
export type FailureKind = "lost-writes" | "divergence" | "other";

export class ConvergenceFailure extends Error {
  override readonly name = "ConvergenceFailure";
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** Writes dropped, for "lost-writes". */
    readonly lost = 0,
  ) {
    super(message);
  }
}

/** The kind of a failure thrown by `checkConvergence` (fast-check wraps it, keeping it as `cause`). */
export function failureKind(e: unknown): { kind: FailureKind; lost: number } {
  for (let x = e; x instanceof Error; x = x.cause) if (x instanceof ConvergenceFailure) return { kind: x.kind, lost: x.lost };
  return { kind: "other", lost: 0 };
}

/** What the runs of one `checkConvergence` did. */
export interface ConvergenceStats {
  runs: number;
  /** Summed over the runs; zero without `faults`. */
  faults: FaultCounters;
}

type OpKind =
  | "create"
  | "modify"
  | "append"
  | "truncate"
  | "delete"
  | "mkdir"
  | "rmdir"
  | "rename"
  | "move"
  | "concurrent"
  | "offline"
  | "online"
  | "restart"
  | "pause"
  | "settle";

export interface Op {
  kind: OpKind;
  client: number;
  seed: number;
}

const NAMES = ["A", "B", "C"];
const DIRS = ["", "d0", "d1", "d0/e0", "d1/e1"];
const FILES = ["n0.txt", "n1.txt", "n2.txt", "b.bin", "noext"];
const MARKER = /<m:[A-Z]\d+>/g;

export const opArbitrary: fc.Arbitrary<Op> = fc.record({
  kind: fc.oneof(
    { arbitrary: fc.constant<OpKind>("create"), weight: 8 },
    { arbitrary: fc.constant<OpKind>("modify"), weight: 4 },
    { arbitrary: fc.constant<OpKind>("append"), weight: 4 },
    { arbitrary: fc.constant<OpKind>("truncate"), weight: 1 },
    { arbitrary: fc.constant<OpKind>("delete"), weight: 3 },
    { arbitrary: fc.constant<OpKind>("mkdir"), weight: 2 },
    { arbitrary: fc.constant<OpKind>("rmdir"), weight: 1 },
    { arbitrary: fc.constant<OpKind>("rename"), weight: 2 },
    { arbitrary: fc.constant<OpKind>("move"), weight: 2 },
    { arbitrary: fc.constant<OpKind>("concurrent"), weight: 3 },
    { arbitrary: fc.constant<OpKind>("offline"), weight: 1 },
    { arbitrary: fc.constant<OpKind>("online"), weight: 2 },
    { arbitrary: fc.constant<OpKind>("restart"), weight: 1 },
    { arbitrary: fc.constant<OpKind>("pause"), weight: 3 },
    { arbitrary: fc.constant<OpKind>("settle"), weight: 1 },
  ),
  client: fc.integer({ min: 0, max: 2 }),
  seed: fc.nat(),
});

function markersOf(text: string): string[] {
  return text.match(MARKER) ?? [];
}

/** What the harness knows about every write. */
class Ledger {
  /** marker → what wrote it. */
  readonly written = new Map<string, string>();
  /** marker → what removed it after seeing it. */
  readonly removed = new Map<string, string>();
  readonly history: string[] = [];
  private counters = new Map<string, number>();

  next(client: string): string {
    const n = (this.counters.get(client) ?? 0) + 1;
    this.counters.set(client, n);
    return `<m:${client}${n}>`;
  }
  wrote(marker: string, what: string): void {
    this.written.set(marker, what);
  }
  removedAll(markers: Iterable<string>, what: string): void {
    for (const m of markers) if (!this.removed.has(m)) this.removed.set(m, what);
  }
  note(line: string): void {
    this.history.push(line);
  }
}

/** Random lowercase text, cheap to make in any size. */
class Filler {
  private readonly pool: string;
  constructor(rnd: () => number) {
    const letters = "abcdefghijklmnopqrstuvwxyz     \n";
    let s = "";
    for (let i = 0; i < 64 * 1024; i++) s += letters[Math.floor(rnd() * letters.length)];
    this.pool = s;
  }
  make(size: number, rnd: () => number): string {
    let out = "";
    while (out.length < size) {
      const start = Math.floor(rnd() * this.pool.length);
      out += this.pool.slice(start, start + Math.min(size - out.length, this.pool.length - start));
    }
    return out;
  }
}

async function listLocal(folder: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  const items = await fs.readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const d of items) {
    const rel = path.relative(folder, path.join(d.parentPath, d.name)).split(path.sep).join("/");
    if (rel === ".dropsim" || rel.startsWith(".dropsim/")) continue;
    if (d.isFile()) files.push(rel);
    else if (d.isDirectory()) dirs.push(rel);
  }
  return { files: files.sort(), dirs: dirs.sort() };
}

async function allFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const items = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const d of items) if (d.isFile()) out.push(path.join(d.parentPath, d.name));
  return out;
}

function isGone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR" || code === "EEXIST" || code === "ENOTEMPTY";
}

/** Opens `abs`, or undefined if a sync moved it away meanwhile. */
async function openUnlessGone(abs: string, flags: string): Promise<fs.FileHandle | undefined> {
  try {
    return await fs.open(abs, flags);
  } catch (e) {
    if (isGone(e)) return undefined;
    throw e;
  }
}

/** Whether the file `handle` has open is still the one at `abs` (false: a sync replaced it, a write went to a ghost). */
async function stillAt(handle: fs.FileHandle, abs: string): Promise<boolean> {
  const mine = await handle.stat();
  const now = await fs.lstat(abs).catch(() => undefined);
  return now?.ino === mine.ino;
}

/** Renames `from` to `to`; false if a sync moved either side meanwhile (the operation is then skipped). */
async function renameUnlessGone(from: string, to: string): Promise<boolean> {
  try {
    await fs.rename(from, to);
    return true;
  } catch (e) {
    if (isGone(e)) return false;
    throw e;
  }
}

/**
 * Rewrites a file through one descriptor. Returns whether the inode written is still the one at
 * the path afterwards (false: a sync replaced the file meanwhile, the write went to a ghost).
 */
async function editInPlace(abs: string, change: (old: string) => string): Promise<{ old: string; next: string; landed: boolean } | undefined> {
  const handle = await openUnlessGone(abs, "r+");
  if (!handle) return undefined;
  try {
    const old = (await handle.readFile()).toString("latin1");
    const next = change(old);
    await handle.truncate(0);
    const buf = Buffer.from(next, "latin1");
    await handle.write(buf, 0, buf.length, 0);
    return { old, next, landed: await stillAt(handle, abs) };
  } finally {
    await handle.close();
  }
}

async function appendInPlace(abs: string, text: string): Promise<boolean | undefined> {
  const handle = await openUnlessGone(abs, "a");
  if (!handle) return undefined;
  try {
    await handle.write(text);
    return await stillAt(handle, abs);
  } finally {
    await handle.close();
  }
}

class Run {
  readonly ledger = new Ledger();
  readonly offline = new Set<string>();
  private filler: Filler;
  private trashCount = 0;

  constructor(
    readonly c: Cluster,
    private readonly opts: ConvergenceOptions,
    seed: number,
  ) {
    this.filler = new Filler(prng(seed));
  }

  private size(rnd: () => number): number {
    const x = rnd();
    if (x < 0.06) return Math.floor(rnd() * this.opts.largeFileBytes);
    if (x < 0.25) return Math.floor(rnd() * 200_000);
    return Math.floor(rnd() * 3000);
  }

  /**
   * Moves `abs` out of the share into a trash folder of its own (deleting by rename, so the
   * markers it held can still be read); undefined if a sync moved it away first.
   */
  private async moveToTrash(abs: string): Promise<string | undefined> {
    const to = this.c.root.join("trash", `t${this.trashCount++}`);
    await fs.mkdir(path.dirname(to), { recursive: true });
    return (await renameUnlessGone(abs, to)) ? to : undefined;
  }

  private folder(name: string): string {
    return this.c.path(name);
  }

  /** `salt` mixes the op's position and the run into its random choices (fast-check's first runs favour small seeds). */
  async apply(op: Op, salt: number): Promise<void> {
    const rnd = prng((op.seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0);
    const name = NAMES[op.client]!;
    const folder = this.folder(name);
    const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(rnd() * xs.length)]);
    const L = this.ledger;
    switch (op.kind) {
      case "create": {
        const dir = pick(DIRS)!;
        const rel = dir ? `${dir}/${pick(FILES)!}` : pick(FILES)!;
        const abs = path.join(folder, rel);
        try {
          await fs.mkdir(path.dirname(abs), { recursive: true });
        } catch (e) {
          if (isGone(e)) return L.note(`${name}: create ${rel} skipped (a file where a folder should be)`);
          throw e;
        }
        const marker = L.next(name);
        const handle = await openUnlessGone(abs, "wx");
        if (!handle) return L.note(`${name}: create ${rel} skipped (exists)`);
        try {
          await handle.write(`${marker}\n${this.filler.make(this.size(rnd), rnd)}`);
          if (await stillAt(handle, abs)) L.wrote(marker, `${name}: create ${rel}`);
          else L.note(`${name}: create ${rel} replaced by a sync before it was closed; ${marker} not counted`);
        } finally {
          await handle.close();
        }
        return L.note(`${name}: create ${rel} ${marker}`);
      }
      case "modify":
      case "truncate": {
        const rel = pick((await listLocal(folder)).files);
        if (!rel) return;
        const marker = op.kind === "modify" ? L.next(name) : undefined;
        const cut = rnd();
        const r = await editInPlace(path.join(folder, rel), (old) => {
          if (marker) return [...markersOf(old), marker, this.filler.make(this.size(rnd), rnd)].join("\n");
          return old.slice(0, Math.floor(cut * old.length));
        });
        if (!r) return;
        if (!r.landed) return L.note(`${name}: ${op.kind} ${rel} hit a replaced file; not counted`);
        const kept = new Set(markersOf(r.next));
        L.removedAll(markersOf(r.old).filter((m) => !kept.has(m)), `${name}: ${op.kind} ${rel}`);
        if (marker) L.wrote(marker, `${name}: modify ${rel}`);
        return L.note(`${name}: ${op.kind} ${rel}${marker ? ` ${marker}` : ` to ${r.next.length} bytes`}`);
      }
      case "append": {
        const rel = pick((await listLocal(folder)).files);
        if (!rel) return;
        const marker = L.next(name);
        const landed = await appendInPlace(path.join(folder, rel), `\n${marker}\n${this.filler.make(Math.floor(rnd() * 500), rnd)}`);
        if (landed === undefined) return;
        if (landed) L.wrote(marker, `${name}: append ${rel}`);
        return L.note(`${name}: append ${rel} ${marker}${landed ? "" : " (hit a replaced file; not counted)"}`);
      }
      case "concurrent": {
        // The same file appended to on two clients at once.
        const others = NAMES.filter((n) => n !== name);
        const other = pick(others)!;
        const mine = new Set((await listLocal(folder)).files);
        const shared = (await listLocal(this.folder(other))).files.filter((f) => mine.has(f));
        const rel = pick(shared);
        if (!rel) return;
        const m1 = L.next(name);
        const m2 = L.next(other);
        const [l1, l2] = await Promise.all([
          appendInPlace(path.join(folder, rel), `\n${m1}\n`),
          appendInPlace(path.join(this.folder(other), rel), `\n${m2}\n`),
        ]);
        if (l1) L.wrote(m1, `${name}: concurrent append ${rel}`);
        if (l2) L.wrote(m2, `${other}: concurrent append ${rel}`);
        return L.note(`${name}+${other}: concurrent append ${rel} ${m1} ${m2}`);
      }
      case "delete": {
        const rel = pick((await listLocal(folder)).files);
        if (!rel) return;
        const to = await this.moveToTrash(path.join(folder, rel));
        if (!to) return;
        L.removedAll(markersOf(await fs.readFile(to, "latin1")), `${name}: delete ${rel}`);
        return L.note(`${name}: delete ${rel}`);
      }
      case "mkdir": {
        const rel = rnd() < 0.5 ? pick(DIRS.filter(Boolean))! : `${pick(DIRS) || "."}/dir-${name}${L.next(name).slice(4, -1)}`.replace(/^\.\//, "");
        await fs.mkdir(path.join(folder, rel), { recursive: true }).catch((e) => {
          if (!isGone(e)) throw e;
        });
        return L.note(`${name}: mkdir ${rel}`);
      }
      case "rmdir": {
        const rel = pick((await listLocal(folder)).dirs);
        if (!rel) return;
        const to = await this.moveToTrash(path.join(folder, rel));
        if (!to) return;
        for (const f of await allFilesUnder(to)) L.removedAll(markersOf(await fs.readFile(f, "latin1")), `${name}: rmdir ${rel}`);
        return L.note(`${name}: rmdir ${rel}`);
      }
      case "rename":
      case "move": {
        const local = await listLocal(folder);
        const isDir = op.kind === "rename" && rnd() < 0.3 && local.dirs.length > 0;
        const rel = pick(isDir ? local.dirs : local.files);
        if (!rel) return;
        const base = path.posix.basename(rel);
        const tag = L.next(name).slice(3, -1);
        const parent = op.kind === "move" ? (pick(local.dirs.filter((d) => d !== rel && !d.startsWith(`${rel}/`))) ?? "") : path.posix.dirname(rel).replace(/^\.$/, "");
        const newName = isDir ? `${base}-r${tag}` : base.includes(".") ? base.replace(/\./, `-m${tag}.`) : `${base}-m${tag}`;
        const to = parent ? `${parent}/${newName}` : newName;
        if (!(await renameUnlessGone(path.join(folder, rel), path.join(folder, to)))) return;
        return L.note(`${name}: ${op.kind} ${rel} → ${to}`);
      }
      case "offline": {
        if (this.offline.has(name)) return;
        await this.c.client(name).stop();
        this.offline.add(name);
        return L.note(`${name}: offline`);
      }
      case "online": {
        const back = pick([...this.offline]);
        if (!back) return;
        this.c.client(back).start();
        this.offline.delete(back);
        return L.note(`${back}: online`);
      }
      case "restart": {
        if (rnd() < 0.5) {
          await this.c.server.kill();
          await this.c.server.launch();
          return L.note("server: SIGKILL and restart");
        }
        await this.c.server.restart();
        return L.note("server: restart");
      }
      case "pause":
        // A generated operation, not synchronisation: random quiet time shifts where later
        // operations fall relative to the clients' passes.
        await Bun.sleep(Math.floor(rnd() * 400));
        return;
      case "settle": {
        // With every client offline there is nobody to agree with the server yet.
        const online = NAMES.filter((n) => !this.offline.has(n));
        if (online.length === 0) return L.note("(settle skipped: every client is offline)");
        try {
          await this.quiescence(online, 90_000);
        } catch (e) {
          throw new ConvergenceFailure("divergence", `Clients did not settle mid-run: ${(e as Error).message}`);
        }
        return L.note("(settled)");
      }
    }
  }

  /** Waits until the named clients and the server hold the same tree, twice in a row with the head unchanged. */
  async quiescence(names: string[], timeout: number): Promise<Tree> {
    let agreed: Tree | undefined;
    let stableHead = -1;
    let stableSince = 0;
    await this.c.waitFor(
      `${names.join(", ")} and the server to agree and stay agreed`,
      async () => {
        const trees = await Promise.all(names.map((n) => snapshotTree(this.c.path(n))));
        const diff = diffTrees(trees, names);
        if (diff) {
          stableHead = -1;
          return diff;
        }
        const entries = await serverEntries(this.c.server.port);
        const problem = await this.compareWithServer(trees[0]!, entries, names[0]!, false);
        if (problem) {
          stableHead = -1;
          return problem;
        }
        const head = Math.max(0, ...[...entries.values()].map((e) => e.version));
        if (head !== stableHead) {
          stableHead = head;
          stableSince = performance.now();
          return "agreed once; checking that it stays so";
        }
        if (performance.now() - stableSince < 1500) return "agreed; checking that it stays so";
        agreed = trees[0];
        return true;
      },
      timeout,
    );
    return agreed!;
  }

  /** A replica's tree against the server's live entries: same paths, kinds, sizes (and content hashes when `deep`). */
  async compareWithServer(tree: Tree, entries: Awaited<ReturnType<typeof serverEntries>>, name: string, deep: boolean): Promise<string | undefined> {
    const problems: string[] = [];
    for (const [p, v] of tree) {
      const e = entries.get(p);
      if (!e) problems.push(`"${p}" is on ${name} but not on the server`);
      else if ((v === "dir") !== (e.kind === "dir")) problems.push(`"${p}" is a ${v === "dir" ? "folder" : "file"} on ${name} but a ${e.kind} on the server`);
      else if (e.kind === "file") {
        const abs = this.c.path(name, p);
        const st = await fs.stat(abs).catch(() => undefined);
        if (st && st.size !== e.size) problems.push(`"${p}" is ${st.size} bytes on ${name}, ${e.size} on the server`);
        else if (deep && st) {
          const d = await hashFile(abs, () => {});
          if (d.hash !== e.hash) problems.push(`"${p}" has other content on ${name} than on the server`);
        }
      }
    }
    for (const p of entries.keys()) if (!tree.has(p)) problems.push(`"${p}" is on the server but not on ${name}`);
    return problems.length ? problems.slice(0, 20).join("\n") : undefined;
  }

  /**
   * After a failure to converge: for each path only some replicas hold, is it a lost watcher
   * event? Touch the file (a new event) and see whether it then syncs; then write a probe file
   * beside it. Returns what happened, for the failure message.
   */
  async probeStuck(): Promise<string> {
    const trees = await Promise.all(NAMES.map((n) => snapshotTree(this.c.path(n))));
    const lines: string[] = [];
    const all = new Set(trees.flatMap((t) => [...t.keys()]));
    for (const p of all) {
      const holders = NAMES.filter((_, i) => trees[i]!.has(p));
      if (holders.length === NAMES.length || holders.length === 0 || trees[NAMES.indexOf(holders[0]!)]!.get(p) === "dir") continue;
      const owner = holders[0]!;
      const lacking = NAMES.filter((n) => !holders.includes(n));
      const arrived = async () => (await Promise.all(lacking.map((n) => snapshotTree(this.c.path(n))))).every((t) => t.has(p));
      const now = new Date();
      await fs.utimes(this.c.path(owner, p), now, now);
      const touched = await waitFor("", async () => (await arrived()) || "no", { timeout: 5000 }).then(() => true, () => false);
      const probe = `${path.posix.dirname(p) === "." ? "" : `${path.posix.dirname(p)}/`}probe-${crypto.randomUUID().slice(0, 6)}.txt`;
      await fs.writeFile(this.c.path(owner, probe), "probe\n");
      const probed = await waitFor("", async () => (await Promise.all(lacking.map((n) => snapshotTree(this.c.path(n))))).every((t) => t.has(probe)) || "no", { timeout: 5000 }).then(() => true, () => false);
      lines.push(`Probe: "${p}" is only on ${holders.join(", ")}; touching it there ${touched ? "made it sync" : "did not make it sync"}; a new file beside it (${probe}) ${probed ? "synced" : "did not sync either"}`);
    }
    return lines.join("\n");
  }

  /** The end-of-run checks; throws with everything needed to understand a failure. */
  async verify(): Promise<void> {
    for (const back of [...this.offline]) {
      this.c.client(back).start();
      this.offline.delete(back);
      this.ledger.note(`${back}: online (end of run)`);
    }
    let tree: Tree;
    try {
      tree = await this.quiescence(NAMES, 90_000);
    } catch (e) {
      throw new ConvergenceFailure("divergence", `${(e as Error).message}\n${await this.probeStuck()}`);
    }
    const deep = await this.compareWithServer(tree, await serverEntries(this.c.server.port), "A", true);
    if (deep) throw new ConvergenceFailure("divergence", `A and the server disagree after quiescence:\n${deep}`);
    const artifacts = [...tree.keys()].filter((p) => p.split("/").some((s) => s === ".dropsim" || s.startsWith(".dropsim-tmp-")));
    if (artifacts.length) throw new Error(`Temp files or .dropsim artifacts in the synced tree: ${artifacts.join(", ")}`);
    const found = new Set<string>();
    for (const [p, v] of tree) {
      if (v === "dir") continue;
      for (const m of markersOf(await fs.readFile(this.c.path("A", p), "latin1"))) found.add(m);
    }
    const lost: string[] = [];
    for (const [m, what] of this.ledger.written) if (!this.ledger.removed.has(m) && !found.has(m)) lost.push(`${m} (written by "${what}")`);
    if (lost.length > 0) {
      throw new ConvergenceFailure(
        "lost-writes",
        `${lost.length} write(s) dropped: their markers are in no file of the final tree, and no operation removed them after seeing them:\n` +
          `${lost.join("\n")}\nFinal tree: ${[...tree.keys()].sort().join(", ")}`,
        lost.length,
      );
    }
    await expectFsckClean(this.c.server.dataDir);
  }
}

/** Runs the property; throws (with the seed and the failing sequence) if any run does not converge. */
export async function checkConvergence(opts: ConvergenceOptions): Promise<ConvergenceStats> {
  const via = opts.faults ? `, through a fault proxy (${JSON.stringify(opts.faults)})` : "";
  console.error(
    `[${opts.label}] seed ${opts.seed}, ${opts.runs} run(s) of ${opts.minOps}–${opts.maxOps} operations, rescan every ${opts.rescanInterval}${via} (replay with DROPSIM_MODEL_SEED=${opts.seed})`,
  );
  const stats: ConvergenceStats = { runs: 0, faults: { connections: 0, cuts: 0, stalls: 0, bytes: 0 } };
  await fc.assert(
    fc.asyncProperty(fc.array(opArbitrary, { minLength: opts.minOps, maxLength: opts.maxOps, size: "max" }), fc.nat(), async (ops, fillerSeed) => {
      const runNo = ++stats.runs;
      let proxy: FaultProxy | undefined;
      try {
        await runOnce(opts, runNo, ops, fillerSeed, async (server) => {
          // Seeded from the run, so a replayed run meets the same faults.
          proxy = await FaultProxy.start({ target: server.address, seed: fillerSeed, ...opts.faults });
          return proxy.address;
        });
      } finally {
        await proxy?.close();
        for (const k of ["connections", "cuts", "stalls", "bytes"] as const) stats.faults[k] += proxy?.counters[k] ?? 0;
        if (proxy) console.error(`[${opts.label}] run ${runNo} through the fault proxy: ${describeCounters(proxy.counters)}`);
      }
    }),
    { seed: opts.seed, numRuns: opts.runs, endOnFailure: true },
  );
  return stats;
}

function describeCounters(c: FaultCounters): string {
  return `${c.connections} connection(s), ${c.cuts} cut, ${c.stalls} stall(s), ${(c.bytes / 1e6).toFixed(1)} MB forwarded`;
}

async function runOnce(
  opts: ConvergenceOptions,
  runNo: number,
  ops: Op[],
  fillerSeed: number,
  startProxy: (server: ServerProcess) => Promise<string>,
): Promise<void> {
  const c = await Cluster.start({
    clients: NAMES,
    clientArgs: ["--rescan-interval", opts.rescanInterval, "--verbose"],
    serverAddress: opts.faults ? startProxy : undefined,
  });
  const run = new Run(c, opts, fillerSeed);
  const started = performance.now();
  try {
    for (const [i, op] of ops.entries()) await run.apply(op, i + 1 + fillerSeed * 1000);
    await run.verify();
    if (process.env.DROPSIM_MODEL_VERBOSE) console.error(run.ledger.history.join("\n"));
    console.error(
      `[${opts.label}] run ${runNo}: ${ops.length} operations, ${run.ledger.written.size} writes tracked, ${run.ledger.removed.size} knowingly removed, converged in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } catch (e) {
    dumpLogs(c.processes, 40);
    const file = path.join(os.tmpdir(), `dropsim-${opts.label}-${opts.seed}-run${runNo}.log`);
    await fs.writeFile(file, [`What the harness did:`, ...run.ledger.history, ...c.processes.map((p) => `\n===== ${p.name} =====\n${p.logs()}`)].join("\n"));
    console.error(`[${opts.label}] run ${runNo} failed; full logs in ${file}. What the harness did:\n${run.ledger.history.join("\n")}`);
    throw e;
  } finally {
    await c[Symbol.asyncDispose]();
  }
}

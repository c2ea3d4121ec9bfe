import { Database } from "bun:sqlite";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DEFAULT_SHARE, metaFile } from "../../src/store/data-dir.ts";
import type { Cluster } from "../helpers/cluster.ts";
import { dropsimCommand } from "../helpers/spawn-dropsim.ts";
import { partialDownloads } from "../helpers/tree.ts";

/** What `dropsim fsck --data DIR` said. */
export interface FsckResult {
  code: number;
  output: string;
}

/** Runs the integrity check as a separate process, the way an operator would. */
export async function runFsck(dataDir: string): Promise<FsckResult> {
  const proc = Bun.spawn(dropsimCommand(["fsck", "--data", dataDir]), {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: `${out}${err}`.trim() };
}

/** Asserts (with the report in the message) that the data dir is consistent. */
export async function expectFsckClean(dataDir: string): Promise<FsckResult> {
  const r = await runFsck(dataDir);
  if (r.code !== 0) throw new Error(`dropsim fsck --data ${dataDir} exited with ${r.code}:\n${r.output}`);
  return r;
}

/** Every file of a folder tree (relative paths), .dropsim included: for "no partial file" checks. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of await fs.readdir(root, { recursive: true }).catch(() => [] as string[])) {
    const st = await fs.lstat(path.join(root, rel)).catch(() => undefined);
    if (st?.isFile()) out.push(rel.split(path.sep).join("/"));
  }
  return out.sort();
}

/** Writes `bytes` beside the folder and renames them in, so no half-written file is ever seen by the client. */
export async function placeFile(c: Cluster, client: string, rel: string, bytes: Uint8Array): Promise<void> {
  const staging = c.root.join(`staging-${crypto.randomUUID()}`);
  await fs.writeFile(staging, bytes);
  await fs.rename(staging, c.path(client, rel));
}

/** A small seeded PRNG (mulberry32): crash moments are random but reproducible from the printed seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for this run: DROPSIM_CRASH_SEED, or a fresh one. Printed so a failure can be replayed. */
export function crashSeed(label: string): number {
  const seed = process.env.DROPSIM_CRASH_SEED ? Number(process.env.DROPSIM_CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.error(`[${label}] seed ${seed} (replay with DROPSIM_CRASH_SEED=${seed})`);
  return seed;
}

/**
 * Total size of the files directly in `dir`, read while a process writes there: a folder not
 * made yet, or a file gone between listing and stat, counts as empty.
 */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    total += (await fs.stat(path.join(dir, name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Total bytes in the server's pack files: grows as blocks arrive. */
export function packBytes(dataDir: string): Promise<number> {
  return folderBytes(path.join(dataDir, "shares", "default", "blocks", "packs"));
}

/** Bytes in a client's partial downloads: grows as blocks of a download arrive. */
export async function partialDownloadBytes(folder: string): Promise<number> {
  let total = 0;
  for (const size of (await partialDownloads(folder)).values()) total += size;
  return total;
}

/** Every commit a client's server acknowledged (its --verbose log): path → highest version. */
export function acknowledgedPuts(logs: string): Map<string, number> {
  const acked = new Map<string, number>();
  for (const m of logs.matchAll(/Uploaded put "(.+)" → version (\d+)/g)) {
    const v = Number(m[2]);
    if ((acked.get(m[1]!) ?? 0) < v) acked.set(m[1]!, v);
  }
  return acked;
}

export interface StoredEntry {
  version: number;
  kind: string;
  size: number;
  hash: string;
  deleted: boolean;
}

/** The current entries straight from a (stopped or killed) server's meta.db (of the share default). */
export function readStoredEntries(dataDir: string): Map<string, StoredEntry> {
  const db = new Database(metaFile(dataDir, DEFAULT_SHARE));
  try {
    const rows = db.query("SELECT e.path, j.seq, j.kind, j.size, j.hash, j.deleted FROM entries e JOIN journal j ON j.seq = e.seq").all() as {
      path: string;
      seq: number;
      kind: string;
      size: number;
      hash: string;
      deleted: number;
    }[];
    return new Map(rows.map((r) => [r.path, { version: r.seq, kind: r.kind, size: r.size, hash: r.hash, deleted: r.deleted === 1 }]));
  } finally {
    db.close();
  }
}

/** Acknowledged commits missing from (or older in) the stored entries, in words; empty when all are there. */
export function lostAcknowledged(acked: Map<string, number>, stored: Map<string, StoredEntry>): string[] {
  const lost: string[] = [];
  for (const [p, v] of acked) {
    const e = stored.get(p);
    if (!e) lost.push(`"${p}" (acknowledged as version ${v}) has no entry`);
    else if (e.version < v) lost.push(`"${p}" was acknowledged as version ${v} but the server holds version ${e.version}`);
  }
  return lost;
}

/**
 * Watches one large file in a folder while something writes it: at every look it must be
 * absent or complete (right size, right SHA-256). Hashing happens only when the size is right
 * and the file (inode, mtime) changed since the last look.
 */
export class BigFilePatrol {
  readonly violations: string[] = [];
  looks = 0;
  private running = true;
  private readonly done: Promise<void>;
  private lastKey = "";
  constructor(
    private readonly file: string,
    private readonly size: number,
    private readonly hash: string,
  ) {
    this.done = this.loop();
  }
  private async loop(): Promise<void> {
    while (this.running) {
      this.looks++;
      const st = await fs.stat(this.file).catch(() => undefined);
      if (st) {
        if (st.size !== this.size) this.violations.push(`${this.file} seen with ${st.size} of ${this.size} bytes`);
        else {
          const key = `${st.ino}:${st.mtimeMs}`;
          if (key !== this.lastKey) {
            const h = new Bun.CryptoHasher("sha256");
            for await (const chunk of Bun.file(this.file).stream()) h.update(chunk);
            const got = h.digest("hex");
            if (got !== this.hash) this.violations.push(`${this.file} seen complete in size but with SHA-256 ${got.slice(0, 12)}…`);
            this.lastKey = key;
          }
        }
      }
      // The patrol's sampling interval (it watches until stopped; nothing waits on it).
      await Bun.sleep(10);
    }
  }
  async stop(): Promise<string[]> {
    this.running = false;
    await this.done;
    return this.violations;
  }
}

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import { syncDir } from "../runtime/sync-dir.ts";
import type { SqlDatabase } from "../runtime/types.ts";

/**
 * Where a server data dir keeps things: `shares/<name>/meta.db` and `shares/<name>/blocks/` per
 * share, `access.db` for shares' quotas and tokens. Each share has its own blocks, so a client
 * of one share cannot learn from `has_blocks` or `get_blocks` whether another holds a block.
 * Before shares, the one journal was `meta.db` at the top and the blocks were `blocks/`: they
 * become the share `default`.
 */
export const DEFAULT_SHARE = "default";

export function sharesDir(root: string): string {
  return path.join(root, "shares");
}

export function metaFile(root: string, share: string): string {
  return path.join(sharesDir(root), share, "meta.db");
}

export function blocksDir(root: string, share: string): string {
  return path.join(sharesDir(root), share, "blocks");
}

export function accessFile(root: string): string {
  return path.join(root, "access.db");
}

/** The blocks of every share, in a data dir from before per-share blocks. */
export function legacyBlocksDir(root: string): string {
  return path.join(root, "blocks");
}

/** The journal of a data dir from before shares. */
export function legacyMetaFile(root: string): string {
  return path.join(root, "meta.db");
}

export async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/** The folders from `dir` up that do not exist yet, deepest first: what making `dir` will create. */
export async function missingFolders(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let d = dir; !(await exists(d)) && path.dirname(d) !== d; d = path.dirname(d)) missing.push(d);
  return missing;
}

/**
 * Makes folders just created durable (`missing`, from `missingFolders`): each one, for what it
 * holds, and the folder above the topmost, for its name.
 */
export async function syncMade(missing: readonly string[], sync = syncDir): Promise<void> {
  if (missing.length === 0) return;
  for (const d of [...missing, path.dirname(missing.at(-1)!)]) await sync(d);
}

/**
 * Makes files just created in `dir` durable: `dir` itself for their names, and the folders made
 * for it (`made`, from `missingFolders`: `dir` first) with the one above them.
 */
export function syncCreated(dir: string, made: readonly string[], sync = syncDir): Promise<void> {
  return made.length > 0 ? syncMade(made, sync) : sync(dir);
}

/** The shares of a data dir in the current layout: the folders of `shares/` that hold a meta.db, sorted. */
export async function listShares(root: string): Promise<string[]> {
  const names = await fs.readdir(sharesDir(root)).catch(() => [] as string[]);
  const held = await Promise.all(names.map((n) => exists(metaFile(root, n))));
  return names.filter((_, i) => held[i]).sort();
}

type OpenDatabase = (file: string) => SqlDatabase;

/**
 * Moves a data dir from before shares (or from before per-share blocks) into the current
 * layout, one step after another. Each move is one rename: until it, the old file is where it
 * was and a crash leaves a data dir that opens as before and is moved again. Each step does
 * only what is left to do and can therefore be repeated; the steps are exported so that a test
 * can stop after any of them.
 */
export const LAYOUT_UPGRADE: readonly ((root: string, openDatabase: OpenDatabase) => Promise<void>)[] = [
  // Everything into meta.db itself: its -wal would not follow a rename.
  async (root, openDatabase) => {
    const file = legacyMetaFile(root);
    if (!(await exists(file))) return;
    const db = openDatabase(file);
    try {
      const r = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get<{ busy: number }>()!;
      if (r.busy !== 0) throw new DropsimError("io", `Cannot move "${file}" into ${sharesDir(root)}: another process is using it`);
    } finally {
      db.close();
    }
  },
  // The emptied -wal and the -shm of the old place, so nothing of meta.db stays behind.
  async (root) => {
    for (const suffix of ["-wal", "-shm"]) await fs.rm(legacyMetaFile(root) + suffix, { force: true });
  },
  async (root) => {
    await fs.mkdir(path.dirname(metaFile(root, DEFAULT_SHARE)), { recursive: true });
  },
  async (root) => {
    if (!(await exists(legacyMetaFile(root)))) return;
    const to = metaFile(root, DEFAULT_SHARE);
    // rename() would replace it: two journals for one share is for a person to sort out.
    if (await exists(to)) throw new DropsimError("io", `Cannot move "${legacyMetaFile(root)}" to "${to}": that file exists already; keep one of them`);
    await fs.rename(legacyMetaFile(root), to);
  },
  // The folder moves whole: blocks/index.db's -wal and the pack files go with it.
  async (root) => {
    if (!(await exists(legacyBlocksDir(root)))) return;
    const to = blocksDir(root, DEFAULT_SHARE);
    if (await exists(to)) throw new DropsimError("io", `Cannot move "${legacyBlocksDir(root)}" to "${to}": that folder exists already; keep one of them`);
    await fs.rename(legacyBlocksDir(root), to);
  },
  // The renames made durable: after a power cut the data dir is not back in the old layout.
  async (root) => {
    for (const dir of [path.dirname(metaFile(root, DEFAULT_SHARE)), sharesDir(root), root]) await syncDir(dir);
  },
];

/** True when the data dir at `root` still has a part in an older layout. */
export async function needsUpgrade(root: string): Promise<boolean> {
  return (await exists(legacyMetaFile(root))) || (await exists(legacyBlocksDir(root)));
}

export async function upgradeLayout(root: string, openDatabase: OpenDatabase): Promise<void> {
  for (const step of LAYOUT_UPGRADE) await step(root, openDatabase);
}

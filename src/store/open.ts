import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import type { Runtime } from "../runtime/types.ts";
import type { BlockStore } from "./block-store.ts";
import { blocksDir, DEFAULT_SHARE, exists, legacyMetaFile, listShares, metaFile, upgradeLayout } from "./data-dir.ts";
import type { JournalFeed } from "./journal-feed.ts";
import { LocalFeed } from "./local-feed.ts";
import { MemoryBlockStore } from "./memory-block-store.ts";
import { MemoryMetaStore } from "./memory-meta-store.ts";
import type { MetaStore } from "./meta-store.ts";
import { PackBlockStore } from "./pack-block-store.ts";
import { SqlMetaStore } from "./sql-meta-store.ts";

/** The location of a server that keeps everything in memory (tests, benchmarks): gone when it stops. */
export const MEMORY_LOCATION = "memory:";

export interface ShareStores {
  meta: MetaStore;
  blocks: BlockStore;
}

/** Every store of one server, and the feed its commits go through. */
export interface StoreSet {
  readonly location: string;
  readonly feed: JournalFeed;
  shareNames(): string[];
  share(name: string): ShareStores | undefined;
  /** Every backend's own `check()`, a share's sentences led by its name; [] when all are sound. */
  check(): Promise<string[]>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /**
   * Open only a data dir that exists, in the layout it is in: none is created, and one from
   * before shares is read where it is rather than moved (fsck, which may run beside a server of
   * any version). The stores themselves still bring their schemas up to date.
   */
  inspect?: boolean;
}

/**
 * Opens the stores at `location`: `memory:`, or a data dir's path. A new data dir gets the share
 * `default`; one from before shares is moved into the current layout first (store/data-dir.ts).
 */
export async function openStores(location: string, runtime: Pick<Runtime, "openDatabase">, opts: OpenOptions = {}): Promise<StoreSet> {
  if (location === MEMORY_LOCATION) {
    const blocks = new MemoryBlockStore();
    return _storeSet(location, new Map([[DEFAULT_SHARE, new MemoryMetaStore()]]), blocks);
  }
  const root = path.resolve(location);
  const metaFiles = opts.inspect ? await _existingMetaFiles(root) : await _preparedMetaFiles(root, runtime);
  const open = (file: string) => runtime.openDatabase(file);
  const metas = new Map<string, MetaStore>();
  try {
    for (const [name, file] of metaFiles) metas.set(name, SqlMetaStore.open(file, open));
    return _storeSet(location, metas, await PackBlockStore.open(blocksDir(root), open));
  } catch (e) {
    for (const m of metas.values()) await m.close();
    throw e;
  }
}

/** Share name → meta.db, after creating the data dir or moving it into the current layout. */
async function _preparedMetaFiles(root: string, runtime: Pick<Runtime, "openDatabase">): Promise<Map<string, string>> {
  await fs.mkdir(root, { recursive: true });
  if (await exists(legacyMetaFile(root))) await upgradeLayout(root, (file) => runtime.openDatabase(file));
  let names = await listShares(root);
  if (names.length === 0) {
    await fs.mkdir(path.dirname(metaFile(root, DEFAULT_SHARE)), { recursive: true });
    names = [DEFAULT_SHARE];
  }
  return new Map(names.map((n) => [n, metaFile(root, n)]));
}

async function _existingMetaFiles(root: string): Promise<Map<string, string>> {
  if (await exists(legacyMetaFile(root))) return new Map([[DEFAULT_SHARE, legacyMetaFile(root)]]);
  const names = await listShares(root);
  if (names.length === 0) throw new DropsimError("not_found", `Cannot open data dir "${root}": there is no meta.db in it (is it a dropsim data dir?)`);
  return new Map(names.map((n) => [n, metaFile(root, n)]));
}

function _storeSet(location: string, metas: Map<string, MetaStore>, blocks: BlockStore): StoreSet {
  const shares = new Map([...metas].map(([name, meta]) => [name, { meta, blocks }]));
  return {
    location,
    feed: new LocalFeed(),
    shareNames: () => [...shares.keys()],
    share: (name) => shares.get(name),
    async check() {
      const problems: string[] = [];
      for (const [name, meta] of metas) for (const p of await meta.check()) problems.push(`Share "${name}": ${p}`);
      problems.push(...(await blocks.check()));
      return problems;
    },
    async close() {
      for (const meta of metas.values()) await meta.close();
      await blocks.close();
    },
  };
}

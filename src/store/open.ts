import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import type { Runtime } from "../runtime/types.ts";
import type { BlockStore } from "./block-store.ts";
import { type AccessStore, MemoryAccessStore } from "./access-store.ts";
import { accessFile, blocksDir, DEFAULT_SHARE, exists, legacyBlocksDir, legacyMetaFile, listShares, metaFile, missingFolders, needsUpgrade, sharesDir, syncCreated, syncMade, upgradeLayout } from "./data-dir.ts";
import type { JournalFeed } from "./journal-feed.ts";
import { LocalFeed } from "./local-feed.ts";
import { MemoryBlockStore } from "./memory-block-store.ts";
import { MemoryMetaStore } from "./memory-meta-store.ts";
import type { MetaStore } from "./meta-store.ts";
import { PackBlockStore } from "./pack-block-store.ts";
import { SqlAccessStore } from "./sql-access-store.ts";
import { SqlMetaStore } from "./sql-meta-store.ts";

/**
 * What opening stores needs of the runtime. `syncDir` makes the folders of a new data dir or
 * share durable (runtime/sync-dir.ts's unless given: tests watch it).
 */
export type StoreRuntime = Pick<Runtime, "openDatabase"> & Partial<Pick<Runtime, "syncDir">>;

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
  /** Opens a share created since (its folder made if missing); the one open already if it is. */
  openShare(name: string): Promise<ShareStores>;
  /** Closes a removed share's stores; its files are the remover's to delete. */
  closeShare(name: string): Promise<void>;
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
export async function openStores(location: string, runtime: StoreRuntime, opts: OpenOptions = {}): Promise<StoreSet> {
  if (location === MEMORY_LOCATION) {
    return _storeSet(location, async () => ({ meta: new MemoryMetaStore(), blocks: new MemoryBlockStore() }), [DEFAULT_SHARE]);
  }
  const root = path.resolve(location);
  if (opts.inspect) {
    const names = await _existingShares(root);
    return _storeSet(location, (name) => _openShare(root, name, runtime, { legacy: true }), names);
  }
  const made = await missingFolders(root);
  await fs.mkdir(root, { recursive: true });
  await syncMade(made, runtime.syncDir);
  if (await needsUpgrade(root)) await upgradeLayout(root, (file) => runtime.openDatabase(file));
  const names = await listShares(root);
  return _storeSet(location, (name) => _openShare(root, name, runtime, { legacy: false }), names.length > 0 ? names : [DEFAULT_SHARE]);
}

/**
 * The access store of `location`, made if missing. On its first opening it lists the shares
 * the data dir already has (`default` at least), so a data dir from before tokens keeps them.
 */
export async function openAccessStore(location: string, runtime: StoreRuntime, now = Date.now()): Promise<AccessStore> {
  if (location === MEMORY_LOCATION) {
    const access = new MemoryAccessStore();
    access.addShare(DEFAULT_SHARE, null, now);
    return access;
  }
  const root = path.resolve(location);
  const made = await missingFolders(root);
  const fresh = !(await exists(accessFile(root)));
  await fs.mkdir(root, { recursive: true });
  const access = SqlAccessStore.open(accessFile(root), (file) => runtime.openDatabase(file));
  // The tokens of a new data dir survive a power cut: access.db's name in it, and its own.
  if (fresh) await syncCreated(root, made, runtime.syncDir).catch((e) => {
    access.close();
    throw e;
  });
  if (access.shares().length === 0) {
    for (const name of new Set([DEFAULT_SHARE, ...(await listShares(root))])) access.addShare(name, null, now);
  }
  return access;
}

/** Makes a new share's folder, journal and block store in the data dir at `root`. */
export async function createShareFiles(root: string, name: string, runtime: StoreRuntime): Promise<void> {
  const stores = await _openShare(path.resolve(root), name, runtime, { legacy: false });
  await stores.meta.close();
  await stores.blocks.close();
}

/** Deletes a removed share's folder, journal and blocks. */
export async function deleteShareFiles(root: string, name: string): Promise<void> {
  await fs.rm(path.join(sharesDir(path.resolve(root)), name), { recursive: true, force: true });
}

/** With `legacy`, a data dir from before shares is read where it is (fsck, beside a server of any version). */
async function _openShare(root: string, name: string, runtime: StoreRuntime, where: { legacy: boolean }): Promise<ShareStores> {
  const old = where.legacy && name === DEFAULT_SHARE;
  const metaPath = old && (await exists(legacyMetaFile(root))) ? legacyMetaFile(root) : metaFile(root, name);
  const blocksPath = old && (await exists(legacyBlocksDir(root))) ? legacyBlocksDir(root) : blocksDir(root, name);
  const open = (file: string) => runtime.openDatabase(file);
  const made = await missingFolders(blocksPath);
  await fs.mkdir(path.dirname(metaPath), { recursive: true });
  const meta = SqlMetaStore.open(metaPath, open);
  try {
    const blocks = await PackBlockStore.open(blocksPath, open, { syncDir: runtime.syncDir });
    // A new share's folders, journal and block index included, survive a power cut from here.
    await syncMade(made, runtime.syncDir).catch(async (e) => {
      await blocks.close();
      throw e;
    });
    return { meta, blocks };
  } catch (e) {
    await meta.close();
    throw e;
  }
}

async function _existingShares(root: string): Promise<string[]> {
  if (await exists(legacyMetaFile(root))) return [DEFAULT_SHARE];
  const names = await listShares(root);
  if (names.length === 0) throw new DropsimError("not_found", `Cannot open data dir "${root}": there is no meta.db in it (is it a dropsim data dir?)`);
  return names;
}

async function _storeSet(location: string, openShare: (name: string) => Promise<ShareStores>, names: string[]): Promise<StoreSet> {
  const shares = new Map<string, ShareStores>();
  const closeAll = async () => {
    for (const { meta, blocks } of shares.values()) {
      await meta.close();
      await blocks.close();
    }
    shares.clear();
  };
  try {
    for (const name of names) shares.set(name, await openShare(name));
  } catch (e) {
    await closeAll();
    throw e;
  }
  return {
    location,
    feed: new LocalFeed(),
    shareNames: () => [...shares.keys()],
    share: (name) => shares.get(name),
    async openShare(name) {
      let stores = shares.get(name);
      if (!stores) {
        stores = await openShare(name);
        shares.set(name, stores);
      }
      return stores;
    },
    async closeShare(name) {
      const stores = shares.get(name);
      if (!stores) return;
      shares.delete(name);
      await stores.meta.close();
      await stores.blocks.close();
    },
    async check() {
      const problems: string[] = [];
      for (const [name, { meta, blocks }] of shares) {
        for (const p of [...(await meta.check()), ...(await blocks.check())]) problems.push(`Share "${name}": ${p}`);
      }
      return problems;
    },
    close: closeAll,
  };
}

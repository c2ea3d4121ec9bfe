import { afterEach, beforeEach } from "bun:test";
import { hashBlock } from "../../src/core/block-hash.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import type { CommitStamp, EntryDraft, MetaStore } from "../../src/store/meta-store.ts";
import { MEMORY_LOCATION, openStores, type StoreSet } from "../../src/store/open.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// One contract, every backend: what server/commit.ts and sessions rely on must hold for SQLite
// + packs and for the in-memory stores alike (and for PostgreSQL + S3 when they come).

export interface Backend {
  name: string;
  open(): Promise<StoreSet>;
  /** Removes what `open` made on disk, once the stores are closed. */
  cleanUp(): Promise<void>;
}

let scratch: TempDir | undefined;

export const backends: Backend[] = [
  {
    name: "SQLite + packs",
    async open() {
      scratch = await tempDir("dropsim-contract-");
      return openStores(scratch.path, { openDatabase: openBunDatabase });
    },
    async cleanUp() {
      await scratch?.remove();
      scratch = undefined;
    },
  },
  {
    name: "memory",
    open: () => openStores(MEMORY_LOCATION, { openDatabase: openBunDatabase }),
    async cleanUp() {},
  },
];

/** Opens a fresh store set of `backend` before each test of the suite (handed to `opened`) and closes and removes it after. */
export function openEach(backend: Backend, opened: (stores: StoreSet) => void): void {
  let stores: StoreSet;
  beforeEach(async () => {
    stores = await backend.open();
    opened(stores);
  });
  afterEach(async () => {
    await stores.close();
    await backend.cleanUp();
  });
}

export const STAMP: CommitStamp = { clientId: "client-a", at: 1_700_000_000_000 };

export function file(path: string, content = path, extra: Partial<EntryDraft> = {}): EntryDraft {
  const bytes = new TextEncoder().encode(content);
  const hash = hashBlock(bytes);
  return { path, kind: "file", size: bytes.length, mode: 0o644, hash, blocks: [[hash, bytes.length]], deleted: false, mtime: 1, ...extra };
}

export function dir(path: string): EntryDraft {
  return { path, kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], deleted: false, mtime: 1 };
}

export function gone(d: EntryDraft): EntryDraft {
  return { ...d, deleted: true, blocks: [], size: 0, hash: "" };
}

export function appendAll(meta: MetaStore, drafts: EntryDraft[], stamp = STAMP) {
  return meta.transaction(stamp, async (tx) => {
    const out = [];
    for (const d of drafts) out.push(await tx.append(d));
    return out;
  });
}


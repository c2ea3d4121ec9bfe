import { expect } from "bun:test";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { BlockRef } from "../../src/core/entry.ts";
import type { Op } from "../../src/protocol/messages.ts";
import { applyOps, findMissingIn } from "../../src/server/commit.ts";
import type { BlockStore } from "../../src/store/block-store.ts";
import type { MetaStore } from "../../src/store/meta-store.ts";

/** Commits straight into a share's stores, as a session would after an upload: no client, no socket. */
export interface ShareStores {
  meta: MetaStore;
  blocks: BlockStore;
}

/** Stores `chunks` as blocks (made durable) and commits them as the file `path` at time `at`; returns the block hashes. */
export async function commitFile(share: ShareStores, path: string, chunks: readonly Uint8Array[] | string, at: number): Promise<string[]> {
  const parts = typeof chunks === "string" ? [new TextEncoder().encode(chunks)] : chunks;
  const blocks: BlockRef[] = [];
  for (const bytes of parts) {
    const hash = hashBlock(bytes);
    await share.blocks.put(hash, bytes);
    blocks.push([hash, bytes.length]);
  }
  await share.blocks.sync();
  const base = (await share.meta.get(path))?.version ?? 0;
  const size = blocks.reduce((n, [, s]) => n + s, 0);
  const op: Op = { op: "put", path, kind: "file", baseVersion: base, size, mode: 0o644, hash: hashBlockList(blocks.map(([h]) => h)), blocks, mtime: 1 };
  const { results } = await applyOps(share.meta, [op], findMissingIn(share.blocks), { clientId: "test", at });
  expect(results[0]!.status).toBe("ok");
  return blocks.map(([h]) => h);
}

export async function deletePath(share: ShareStores, path: string, at: number): Promise<void> {
  const base = (await share.meta.get(path))!.version;
  const { results } = await applyOps(share.meta, [{ op: "delete", path, baseVersion: base }], findMissingIn(share.blocks), { clientId: "test", at });
  expect(results[0]!.status).toBe("ok");
}

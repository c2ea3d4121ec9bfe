import type { BlockStore, Compaction, StoredBlock } from "./block-store.ts";

/**
 * Blocks in a Map, for tests and `memory:` servers: nothing is durable, so `sync` has nothing
 * to do, and a deleted block's space is freed at once, so `compact` has nothing to reclaim.
 */
export class MemoryBlockStore implements BlockStore {
  private readonly blocks = new Map<string, Uint8Array>();
  /** When each block was put: here every put is as durable as it will ever be. */
  private readonly storedAt = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async missing(hashes: readonly string[]): Promise<string[]> {
    return hashes.filter((h) => !this.blocks.has(h));
  }

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    // A copy: the caller may reuse its buffer (a frame) once the put resolves.
    if (this.blocks.has(hash)) return;
    this.blocks.set(hash, bytes.slice());
    this.storedAt.set(hash, this.now());
  }

  async get(hash: string): Promise<Uint8Array | undefined> {
    return this.blocks.get(hash)?.slice();
  }

  async sizes(hashes: readonly string[]): Promise<(number | undefined)[]> {
    return hashes.map((h) => this.blocks.get(h)?.length);
  }

  async readInto(hashes: readonly string[], buffers: readonly Uint8Array[]): Promise<boolean[]> {
    return hashes.map((h, i) => {
      const bytes = this.blocks.get(h);
      if (bytes?.length !== buffers[i]!.length) return false;
      buffers[i]!.set(bytes);
      return true;
    });
  }

  async sync(): Promise<void> {}

  async delete(hashes: readonly string[]): Promise<void> {
    for (const h of hashes) {
      this.blocks.delete(h);
      this.storedAt.delete(h);
    }
  }

  async list(): Promise<StoredBlock[]> {
    return [...this.blocks].map(([hash, bytes]) => ({ hash, size: bytes.length, storedAt: this.storedAt.get(hash)! }));
  }

  async compact(): Promise<Compaction> {
    let bytes = 0;
    for (const b of this.blocks.values()) bytes += b.length;
    return { packs: 0, before: bytes, after: bytes };
  }

  async check(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {}
}

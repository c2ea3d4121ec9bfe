import type { BlockStore } from "./block-store.ts";

/** Blocks in a Map, for tests and `memory:` servers: nothing is durable, so `sync` has nothing to do. */
export class MemoryBlockStore implements BlockStore {
  private readonly blocks = new Map<string, Uint8Array>();

  async missing(hashes: readonly string[]): Promise<string[]> {
    return hashes.filter((h) => !this.blocks.has(h));
  }

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    // A copy: the caller may reuse its buffer (a frame) once the put resolves.
    if (!this.blocks.has(hash)) this.blocks.set(hash, bytes.slice());
  }

  async get(hash: string, alloc = (size: number) => new Uint8Array(size)): Promise<Uint8Array | undefined> {
    const bytes = this.blocks.get(hash);
    if (!bytes) return undefined;
    const out = alloc(bytes.length);
    out.set(bytes);
    return out;
  }

  async sync(): Promise<void> {}

  async delete(hashes: readonly string[]): Promise<void> {
    for (const h of hashes) this.blocks.delete(h);
  }

  async check(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {}
}

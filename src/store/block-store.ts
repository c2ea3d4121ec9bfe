/** A stored block as garbage collection sees it. */
export interface StoredBlock {
  hash: string;
  size: number;
  /** When it was made durable (ms since the epoch); 0 when unknown (stored before this was kept). */
  storedAt: number;
}

/** What \`compact\` did (or, with \`dryRun\`, would do). */
export interface Compaction {
  /** Pack files rewritten or removed. */
  packs: number;
  /** Bytes on disk before and after. */
  before: number;
  after: number;
}

/** Content-addressed block storage. Callers verify hashes; a store only keeps bytes safe. */
export interface BlockStore {
  /** The hashes of `hashes` the store does not hold, in their order: one round trip for a batch. */
  missing(hashes: readonly string[]): Promise<string[]>;
  /** Stores the bytes (storing a block that exists is a no-op). Durable only after `sync`. */
  put(hash: string, bytes: Uint8Array): Promise<void>;
  /** The sizes of the blocks held, in order; undefined for those the store does not hold. */
  sizes(hashes: readonly string[]): Promise<(number | undefined)[]>;
  /**
   * Reads each block into its buffer (sized by `sizes`), blocks lying end to end in storage in
   * one read; false for a block no longer held (deleted meanwhile). Serving many blocks.
   */
  readInto(hashes: readonly string[], buffers: readonly Uint8Array[]): Promise<boolean[]>;
  /** The block's bytes. */
  get(hash: string): Promise<Uint8Array | undefined>;
  /** Makes every `put` so far durable; called before a commit may refer to those blocks. */
  sync(): Promise<void>;
  /** Forgets the blocks (garbage collection decides which); unknown hashes are ignored. */
  delete(hashes: readonly string[]): Promise<void>;
  /** Every durable block (not those put since the last \`sync\`). */
  list(): Promise<StoredBlock[]>;
  /**
   * Reclaims the space of deleted blocks: rewrites every pack file whose dead bytes pass
   * \`threshold\` (a share of its size) with only its live blocks, made durable before the index
   * points at them, and removes pack files nothing lives in. Blocks put meanwhile are kept.
   */
  compact(threshold: number, dryRun: boolean): Promise<Compaction>;
  /** This backend's own consistency (an index entry past the end of its pack, …), as plain sentences; [] when sound. */
  check(): Promise<string[]>;
  close(): Promise<void>;
}

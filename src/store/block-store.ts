/** Content-addressed block storage. Callers verify hashes; a store only keeps bytes safe. */
export interface BlockStore {
  has(hash: string): Promise<boolean>;
  /** Stores the bytes (storing a block that exists is a no-op). Durable only after `sync`. */
  put(hash: string, bytes: Uint8Array): Promise<void>;
  get(hash: string): Promise<Uint8Array | undefined>;
  /** Makes every `put` so far durable; called before a commit may refer to those blocks. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

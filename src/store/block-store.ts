/** Content-addressed block storage. Callers verify hashes; a store only keeps bytes safe. */
export interface BlockStore {
  has(hash: string): Promise<boolean>;
  /** Stores durably before resolving; storing a block that exists is a no-op. */
  put(hash: string, bytes: Uint8Array): Promise<void>;
  get(hash: string): Promise<Uint8Array | undefined>;
}

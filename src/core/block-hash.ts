import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

/** Blocks are addressed by the SHA-256 of their bytes, written as 64 lowercase hex digits. */
export const HASH_BYTES = 32;
export const HASH_HEX = /^[0-9a-f]{64}$/;

export function hashBlock(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * A file's content hash is the hash of its ordered block hashes: it changes whenever any
 * byte does, and costs nothing beyond the block hashes already computed.
 */
export function hashBlockList(blockHashes: readonly string[]): string {
  const h = createHash("sha256");
  for (const b of blockHashes) h.update(b, "hex");
  return h.digest("hex");
}

export function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

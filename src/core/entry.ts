/** One block of a file: its SHA-256 (hex) and length. On the wire: `[hash, size]`. */
export type BlockRef = [hash: string, size: number];

export type EntryKind = "file" | "dir";

/** What a path holds, independent of where it came from. */
export interface Content {
  kind: EntryKind;
  size: number;
  /** Unix permission bits; only the executable bits travel between replicas. */
  mode: number;
  /** Hash of the block list ("" for folders). */
  hash: string;
  blocks: BlockRef[];
}

/** The server's record of a path at one journal sequence number. */
export interface Entry extends Content {
  path: string;
  /** The journal `seq` that produced this state. */
  version: number;
  deleted: boolean;
  /** Informational only: nothing decides by clocks. */
  mtime: number;
  /** Set when this entry was created by a move, so replicas can rename instead of re-fetching. */
  movedFrom?: string;
}

export const FILE_MODE = 0o644;
export const EXEC_MODE = 0o755;
export const DIR_MODE = 0o755;

/** Replicas keep only the executable bit; other permission bits are each machine's business. */
export function normalMode(kind: EntryKind, mode: number): number {
  if (kind === "dir") return DIR_MODE;
  return mode & 0o111 ? EXEC_MODE : FILE_MODE;
}

export function sameContent(a: Content | undefined, b: Content | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.kind !== b.kind) return false;
  if (a.kind === "dir") return true;
  return a.hash === b.hash && normalMode(a.kind, a.mode) === normalMode(b.kind, b.mode);
}

import { hashBlock } from "./block-hash.ts";
import { sameXattrs, type XattrSet } from "./xattrs.ts";

/** One block of a file: its SHA-256 (hex) and length. On the wire: `[hash, size]`. */
export type BlockRef = [hash: string, size: number];

export type EntryKind = "file" | "dir" | "symlink";

/** What a path holds, independent of where it came from. */
export interface Content {
  kind: EntryKind;
  size: number;
  /** Unix permission bits; only the executable bits travel between replicas. */
  mode: number;
  /** Hash of the block list, of the target for a symlink ("" for folders). */
  hash: string;
  /** Empty for folders and symlinks. */
  blocks: BlockRef[];
  /** A symlink's target, verbatim: never resolved, never followed. Only live symlinks have one. */
  target?: string;
  /**
   * A file's synced extended attributes (core/xattrs.ts): absent when it has none. Folders and
   * symlinks carry none. An attribute-only change is a change of content, with the same blocks.
   */
  xattrs?: XattrSet;
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
/** Permission bits of a symlink mean nothing on Linux (always 0777) and are not synced. */
export const LINK_MODE = 0o777;
/** Bytes a symlink target may have: Linux's PATH_MAX; macOS allows less, Windows about as much. */
export const MAX_TARGET_BYTES = 4096;

/** Replicas keep only the executable bit; other permission bits are each machine's business. */
export function normalMode(kind: EntryKind, mode: number): number {
  if (kind === "dir") return DIR_MODE;
  if (kind === "symlink") return LINK_MODE;
  return mode & 0o111 ? EXEC_MODE : FILE_MODE;
}

export function sameContent(a: Content | undefined, b: Content | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.kind !== b.kind) return false;
  if (a.kind === "dir") return true;
  if (a.kind === "symlink") return a.target === b.target;
  return a.hash === b.hash && normalMode(a.kind, a.mode) === normalMode(b.kind, b.mode) && sameXattrs(a.xattrs, b.xattrs);
}

const utf8 = new TextEncoder();

/** Why `target` cannot be a symlink's target on the wire, or undefined when it can. */
export function symlinkTargetProblem(target: string): string | undefined {
  if (target === "") return "it is empty";
  if (target.includes("\0")) return "it contains a NUL character";
  const bytes = utf8.encode(target).length;
  if (bytes > MAX_TARGET_BYTES) return `it is ${bytes} bytes long, over the limit of ${MAX_TARGET_BYTES}`;
  return undefined;
}

/**
 * A symlink as content: its size is the target's length in bytes (as lstat says on Linux) and
 * its hash that of the target's bytes, so that whatever compares hashes (a moved folder's
 * entries) tells two targets apart as it tells two files apart.
 */
export function symlinkContent(target: string): Content {
  const bytes = utf8.encode(target);
  return { kind: "symlink", size: bytes.length, mode: LINK_MODE, hash: hashBlock(bytes), blocks: [], target };
}

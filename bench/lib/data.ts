import { createCipheriv, createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Test content: incompressible, never repeating (AES-128-CTR keystream, several GB/s), and
 * reproducible from a seed. Big files are written and hashed chunk by chunk, never held whole.
 */
const CHUNK = 4 * 1024 * 1024;

export class RandomBytes {
  private readonly cipher;
  private zeros = Buffer.alloc(0);

  constructor(seed: string) {
    const key = createHash("sha256").update(seed).digest().subarray(0, 16);
    this.cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  }

  next(n: number): Buffer {
    if (this.zeros.length < n) this.zeros = Buffer.alloc(Math.max(n, 64 * 1024));
    return this.cipher.update(this.zeros.subarray(0, n));
  }
}

export function sha256(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
}

/** Writes `size` random bytes to `file` (fsynced); returns their SHA-256. */
export function writeRandomFile(file: string, size: number, seed: string): string {
  const rng = new RandomBytes(seed);
  const hasher = new Bun.CryptoHasher("sha256");
  const fd = fs.openSync(file, "w");
  try {
    for (let left = size; left > 0; ) {
      const chunk = rng.next(Math.min(CHUNK, left));
      hasher.update(chunk);
      writeAll(fd, chunk);
      left -= chunk.length;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return hasher.digest("hex");
}

/** Copies `src` to `dst` with `insert` placed at byte `at` (fsynced); returns the SHA-256 of the result. */
export function copyWithInsert(src: string, dst: string, at: number, insert: Uint8Array): string {
  const hasher = new Bun.CryptoHasher("sha256");
  const input = fs.openSync(src, "r");
  const output = fs.openSync(dst, "w");
  try {
    const buf = Buffer.alloc(CHUNK);
    let pos = 0;
    let inserted = false;
    for (;;) {
      const want = !inserted && at - pos < CHUNK ? at - pos : CHUNK;
      const n = want === 0 ? 0 : fs.readSync(input, buf, 0, want, pos);
      if (n > 0) {
        hasher.update(buf.subarray(0, n));
        writeAll(output, buf.subarray(0, n));
        pos += n;
      }
      if (!inserted && pos === at) {
        hasher.update(insert);
        writeAll(output, insert);
        inserted = true;
        continue;
      }
      if (n === 0) break;
    }
    fs.fsyncSync(output);
  } finally {
    fs.closeSync(input);
    fs.closeSync(output);
  }
  return hasher.digest("hex");
}

/** SHA-256 of a file, read in chunks; undefined if it does not exist. */
export function hashFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const hasher = new Bun.CryptoHasher("sha256");
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hasher.update(buf.subarray(0, n));
    }
    return hasher.digest("hex");
  } finally {
    fs.closeSync(fd);
  }
}

export interface SmallTree {
  /** Top-level folder names. */
  dirs: string[];
  /** Relative path (with `/`) → SHA-256 of its content. */
  files: Map<string, string>;
}

/** `dirCount` folders of `perDir` files of `size` random bytes each, under `root`. */
export function writeSmallTree(root: string, dirCount: number, perDir: number, size: number, seed: string, prefix = "dir"): SmallTree {
  const rng = new RandomBytes(seed);
  const tree: SmallTree = { dirs: [], files: new Map() };
  for (let d = 0; d < dirCount; d++) {
    const dir = `${prefix}${String(d).padStart(4, "0")}`;
    tree.dirs.push(dir);
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    for (let f = 0; f < perDir; f++) {
      const name = `file${String(f).padStart(5, "0")}.bin`;
      const bytes = rng.next(size);
      fs.writeFileSync(path.join(root, dir, name), bytes);
      tree.files.set(`${dir}/${name}`, sha256(bytes));
    }
  }
  return tree;
}

/** How many of the tree's files exist under `root` (by name; writes land by rename, so a name means a whole file). */
export function countPresent(root: string, tree: SmallTree): number {
  let n = 0;
  for (const dir of tree.dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(root, dir));
    } catch {
      continue;
    }
    for (const name of names) if (tree.files.has(`${dir}/${name}`)) n++;
  }
  return n;
}

/** Paths whose bytes under `root` differ from the tree's (missing included); at most `limit`. */
export function treeMismatches(root: string, tree: SmallTree, limit = 5): string[] {
  const bad: string[] = [];
  for (const [rel, hash] of tree.files) {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(path.join(root, rel));
    } catch {
      bad.push(`${rel} (missing)`);
      if (bad.length >= limit) break;
      continue;
    }
    if (sha256(bytes) !== hash) bad.push(rel);
    if (bad.length >= limit) break;
  }
  return bad;
}

/** Files under `root` that the tree does not have (a restore that brought back too much); at most `limit`. */
export function strangers(root: string, tree: SmallTree, limit = 5): string[] {
  const found: string[] = [];
  for (const rel of fs.readdirSync(root, { recursive: true, encoding: "utf8" })) {
    const name = rel.split(path.sep).join("/");
    if (!tree.files.has(name) && !tree.dirs.includes(name)) found.push(name);
    if (found.length >= limit) break;
  }
  return found;
}

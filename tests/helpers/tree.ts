import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";

/**
 * A folder as data: relative `/`-separated path → "dir", or the SHA-256 of the file's bytes
 * (with " +x" when `modes` is asked for and the owner may execute it). `.dropsim/` at the
 * root is the client's own state and never part of the tree.
 */
export type Tree = Map<string, string>;

export const STATE_DIR = ".dropsim";
export const DIR = "dir";

export function sha256(data: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

async function hashFile(file: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(file).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

function isGone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** Reads `root` recursively. Entries vanishing mid-walk (a sync in progress) are left out. */
export async function snapshotTree(root: string, opts: { modes?: boolean } = {}): Promise<Tree> {
  const tree: Tree = new Map();
  async function walk(dir: string, rel: string): Promise<void> {
    let items: Dirent[];
    try {
      items = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (isGone(e)) return;
      throw e;
    }
    for (const item of items) {
      if (rel === "" && item.name === STATE_DIR) continue;
      const full = path.join(dir, item.name);
      const relPath = rel ? `${rel}/${item.name}` : item.name;
      try {
        if (item.isDirectory()) {
          tree.set(relPath, DIR);
          await walk(full, relPath);
        } else if (item.isSymbolicLink()) {
          tree.set(relPath, `symlink -> ${await fs.readlink(full)}`);
        } else if (item.isFile()) {
          const hash = await hashFile(full);
          if (opts.modes) {
            const st = await fs.stat(full);
            tree.set(relPath, st.mode & 0o100 ? `${hash} +x` : hash);
          } else tree.set(relPath, hash);
        } else tree.set(relPath, "special");
      } catch (e) {
        if (!isGone(e)) throw e;
      }
    }
  }
  await walk(root, "");
  return tree;
}

function short(value: string | undefined): string {
  if (value === undefined) return "(absent)";
  if (value === DIR || value.startsWith("symlink") || value === "special") return value;
  return value.length > 16 ? `${value.slice(0, 12)}…${value.endsWith(" +x") ? " +x" : ""}` : value;
}

/**
 * Where `trees` disagree, one line per path, or undefined when they are all equal.
 * `names` label the trees in the output ("A", "B", "expected", ...).
 */
export function diffTrees(trees: readonly Tree[], names: readonly string[], maxLines = 40): string | undefined {
  const paths = new Set<string>();
  for (const t of trees) for (const p of t.keys()) paths.add(p);
  const lines: string[] = [];
  let differing = 0;
  for (const p of [...paths].sort()) {
    const values = trees.map((t) => t.get(p));
    if (values.every((v) => v === values[0])) continue;
    differing++;
    if (lines.length < maxLines) lines.push(`${JSON.stringify(p)}: ${values.map((v, i) => `${names[i]}=${short(v)}`).join("  ")}`);
  }
  if (differing === 0) return undefined;
  const sizes = trees.map((t, i) => `${names[i]}: ${t.size} entries`).join(", ");
  const more = differing > lines.length ? `\n… and ${differing - lines.length} more differing paths` : "";
  return `${differing} path(s) differ (${sizes}):\n${lines.join("\n")}${more}`;
}

/** A short listing of a tree, for failure messages. */
export function describeTree(tree: Tree, maxLines = 40): string {
  const keys = [...tree.keys()].sort();
  const shown = keys.slice(0, maxLines).map((k) => `${k}: ${short(tree.get(k))}`);
  return `${keys.length} entries\n${shown.join("\n")}${keys.length > maxLines ? `\n… ${keys.length - maxLines} more` : ""}`;
}

/** Writes `content` at `root/rel`, creating parent folders. Returns its SHA-256. */
export async function writeFile(root: string, rel: string, content: Uint8Array | string): Promise<string> {
  const file = path.join(root, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content);
  return sha256(content);
}

/** Writes `size` random bytes at `root/rel`. Returns their SHA-256. */
export async function writeRandomFile(root: string, rel: string, size: number): Promise<string> {
  return writeFile(root, rel, new Uint8Array(randomBytes(size)));
}

/** Writes several files at once: relative path → content (string or bytes). */
export async function writeFiles(root: string, files: Record<string, Uint8Array | string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) await writeFile(root, rel, content);
}

/** Writes `count` random files (`prefix-000.bin` …) of up to `maxSize` bytes under `root/dir`. */
export async function writeRandomFiles(root: string, dir: string, count: number, maxSize = 4096): Promise<string[]> {
  const written: string[] = [];
  for (let i = 0; i < count; i++) {
    const rel = `${dir}/file-${String(i).padStart(3, "0")}.bin`;
    await writeRandomFile(root, rel, Math.floor(Math.random() * maxSize));
    written.push(rel);
  }
  return written;
}

const CONFLICT_LABEL = /^conflicted copy (?:\d+ )?from .+ \d{4}-\d{2}-\d{2} \d{2}\.\d{2}\.\d{2} [0-9a-zA-Z]+$/;

/** `report.pdf` and `dir/report (conflicted copy from HOST 2026-11-24 14.03.22 3f2a9c).pdf` → true. */
export function isConflictCopyOf(candidate: string, original: string): boolean {
  const dir = path.posix.dirname(original);
  const name = path.posix.basename(original);
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  const prefix = dir === "." ? "" : `${dir}/`;
  if (!candidate.startsWith(prefix)) return false;
  const rest = candidate.slice(prefix.length);
  if (rest.includes("/") || !rest.startsWith(`${stem} (`) || !rest.endsWith(`)${ext}`)) return false;
  const label = rest.slice(stem.length + 2, rest.length - ext.length - 1);
  return CONFLICT_LABEL.test(label);
}

/** The conflict copies of `original` present in `tree`. */
export function conflictCopiesOf(tree: Tree, original: string): string[] {
  return [...tree.keys()].filter((p) => isConflictCopyOf(p, original)).sort();
}

/** Every conflict copy in `tree`, of anything. */
export function allConflictCopies(tree: Tree): string[] {
  return [...tree.keys()].filter((p) => / \(conflicted copy (?:\d+ )?from .+ \d{4}-\d{2}-\d{2} \d{2}\.\d{2}\.\d{2} [0-9a-zA-Z]+\)/.test(p)).sort();
}

/**
 * The partial downloads a client holds: files (not its subfolders) anywhere below
 * `.dropsim/tmp`, with their sizes, read while the client may be writing or deleting them.
 */
export async function partialDownloads(folder: string): Promise<Map<string, number>> {
  const tmp = path.join(folder, STATE_DIR, "tmp");
  const out = new Map<string, number>();
  for (const rel of await fs.readdir(tmp, { recursive: true }).catch(() => [] as string[])) {
    const st = await fs.stat(path.join(tmp, rel)).catch(() => undefined);
    if (st?.isFile()) out.set(rel.split(path.sep).join("/"), st.size);
  }
  return out;
}

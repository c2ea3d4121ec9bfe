import type { Dirent, Stats } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { EntryKind } from "../core/entry.ts";
import type { IgnoreRules } from "../core/ignore-rules.ts";

/** What stat says about a path: enough to tell "unchanged" without reading it. */
export interface LocalStat {
  kind: EntryKind;
  size: number;
  mtimeMs: number;
  ino: number;
  mode: number;
}

export function toLocalStat(st: Stats): LocalStat | undefined {
  const kind = st.isFile() ? "file" : st.isDirectory() ? "dir" : undefined;
  if (!kind) return undefined; // symlinks, sockets, devices are not synced
  return { kind, size: kind === "dir" ? 0 : st.size, mtimeMs: st.mtimeMs, ino: st.ino, mode: st.mode & 0o7777 };
}

export async function statLocal(abs: string): Promise<LocalStat | undefined> {
  try {
    return toLocalStat(await fs.lstat(abs));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

/**
 * Walks `root/start` (a wire path, "" for everything) and returns every syncable path under
 * it, the start included. Ignored names are skipped with everything below them.
 */
export async function scanTree(root: string, start: string, ignored: IgnoreRules): Promise<Map<string, LocalStat>> {
  const out = new Map<string, LocalStat>();
  if (start !== "") {
    const st = await statLocal(path.join(root, ...start.split("/")));
    if (!st || ignored(start, st.kind === "dir")) return out;
    out.set(start, st);
    if (st.kind !== "dir") return out;
  }
  const queue = [start];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    let children: Dirent[];
    try {
      children = await fs.readdir(path.join(root, ...dir.split("/")), { withFileTypes: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw e;
    }
    await Promise.all(
      children.map(async (d) => {
        if (!d.isFile() && !d.isDirectory()) return;
        const rel = dir === "" ? d.name : `${dir}/${d.name}`;
        if (ignored(rel, d.isDirectory())) return;
        const st = await statLocal(path.join(root, ...rel.split("/")));
        if (!st) return;
        out.set(rel, st);
        if (st.kind === "dir") queue.push(rel);
      }),
    );
  }
  return out;
}

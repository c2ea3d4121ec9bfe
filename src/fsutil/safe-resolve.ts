import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import { assertWirePath } from "../core/wire-path.ts";

/** The absolute local path of a wire path; refuses anything that would land outside `root`. */
export function resolveInside(root: string, wirePath: string): string {
  assertWirePath(wirePath);
  const abs = path.resolve(root, ...wirePath.split("/"));
  if (!abs.startsWith(root + path.sep)) {
    throw new DropsimError("bad_path", `Refusing path "${wirePath}": it resolves outside ${root}`);
  }
  return abs;
}

/**
 * Makes sure every folder above `wirePath` exists and is a real folder, not a symlink that
 * could carry a write outside the root. Creates missing ones. Folders in `known` (checked
 * earlier in the same batch, and added to it here) are not looked at again: a batch of
 * thousands of files in a few folders would otherwise pay a stat per folder per file.
 */
export async function ensureParents(root: string, wirePath: string, known?: Set<string>): Promise<void> {
  const segments = wirePath.split("/").slice(0, -1);
  let current = root;
  for (const segment of segments) {
    current = path.join(current, segment);
    if (known?.has(current)) continue;
    await ensureFolder(current, wirePath);
    known?.add(current);
  }
}

/**
 * True when every folder above `wirePath` is a real folder: a path to read or move from, where
 * a folder replaced by a symlink would reach outside the root (lstat of the path itself
 * follows links above it). A missing folder means the path is gone (false; nothing is
 * created); any other failure (permissions) is thrown, never mistaken for a deletion. Folders
 * in `known` were found real earlier in the same pass, and are added to it.
 */
export async function realFoldersAbove(root: string, wirePath: string, known?: Set<string>): Promise<boolean> {
  let dir = "";
  for (const name of wirePath.split("/").slice(0, -1)) {
    dir = dir ? `${dir}/${name}` : name;
    if (known?.has(dir)) continue;
    let st;
    try {
      st = await fs.lstat(path.join(root, ...dir.split("/")));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return false;
      throw e;
    }
    if (!st.isDirectory()) return false;
    known?.add(dir);
  }
  return true;
}

async function ensureFolder(current: string, wirePath: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(current);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    await fs.mkdir(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    return;
  }
  if (st.isSymbolicLink()) throw new DropsimError("bad_path", `Refusing to write "${wirePath}": ${current} is a symbolic link`);
  if (!st.isDirectory()) throw new DropsimError("parent_not_dir", `Cannot write "${wirePath}": ${current} is not a folder`);
}

import * as fs from "node:fs/promises";

/**
 * Renames `src` to `dst` unless `dst` exists; false (and nothing moved) when it does. A plain
 * rename replaces whatever appeared at `dst` since it was checked, and a conflict copy must
 * never replace another file. Files go through a hard link (the kernel refuses an existing
 * name atomically); folders claim `dst` with mkdir, which only an empty folder of ours then
 * lets rename replace. File systems without hard links fall back to check-then-rename.
 */
export async function renameNoReplace(src: string, dst: string): Promise<boolean> {
  const st = await fs.lstat(src);
  if (st.isDirectory()) {
    if (!(await claim(() => fs.mkdir(dst)))) return false;
    await fs.rename(src, dst);
    return true;
  }
  try {
    await fs.link(src, dst);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV" && code !== "EMLINK") throw e;
    if (await fs.lstat(dst).then(() => true, () => false)) return false;
    await fs.rename(src, dst);
    return true;
  }
  await fs.unlink(src);
  return true;
}

async function claim(make: () => Promise<unknown>): Promise<boolean> {
  try {
    await make();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

import * as fs from "node:fs/promises";
import * as path from "node:path";

/** Bytes of every file under `dir`, read while a process may write there (a file gone meanwhile counts 0). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const rel of await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    const st = await fs.lstat(path.join(dir, rel)).catch(() => undefined);
    if (st?.isFile()) total += st.size;
  }
  return total;
}

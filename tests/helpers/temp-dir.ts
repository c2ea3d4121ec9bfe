import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/** A fresh folder under the OS temp dir, removed on `await using` exit (kept if DROPSIM_KEEP_TMP is set). */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
  join(...parts: string[]): string;
  remove(): Promise<void>;
}

export async function tempDir(prefix = "dropsim-e2e-"): Promise<TempDir> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  const remove = async () => {
    if (process.env.DROPSIM_KEEP_TMP) {
      console.error(`[temp-dir] kept ${dir}`);
      return;
    }
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  return {
    path: dir,
    join: (...parts) => path.join(dir, ...parts),
    remove,
    [Symbol.asyncDispose]: remove,
  };
}

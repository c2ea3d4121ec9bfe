import { randomUUID } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

export const TEMP_PREFIX = ".dropsim-tmp-";

/**
 * A file being written under a temporary name. Its bytes become visible at `target` only
 * through `commit` (fsync, then rename), so no reader ever sees a partial file.
 */
export class TempFile {
  private constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
  ) {}

  /** `dir` must exist: creating it here would cost a syscall per file in a batch of thousands. */
  /** `mode` is the final file's (the umask applies, as for any new file). */
  static async create(dir: string, mode = 0o644): Promise<TempFile> {
    const p = path.join(dir, `${TEMP_PREFIX}${randomUUID()}`);
    return new TempFile(p, await fs.open(p, "wx", mode));
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, offset, bytes.length - offset);
      offset += bytesWritten;
    }
  }

  async commit(target: string): Promise<void> {
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
    await fs.rename(this.path, target);
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
    await fs.rm(this.path, { force: true });
  }
}

export async function writeFileAtomic(target: string, tmpDir: string, bytes: Uint8Array): Promise<void> {
  const tmp = await TempFile.create(tmpDir);
  try {
    await tmp.write(bytes);
    await tmp.commit(target);
  } catch (e) {
    await tmp.abort();
    throw e;
  }
}

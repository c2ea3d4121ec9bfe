import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import { writeFileAtomic } from "../fsutil/atomic-write.ts";
import type { BlockStore } from "./block-store.ts";

/** Blocks as files: `blocks/ab/cdef…`, each written to a temp name, fsynced, renamed. */
export class FsBlockStore implements BlockStore {
  private readonly tmp: string;

  constructor(private readonly dir: string) {
    this.tmp = path.join(dir, "tmp");
  }

  async init(): Promise<void> {
    await fs.mkdir(this.tmp, { recursive: true });
    // Temp files left by a crash were never renamed into place: nothing refers to them.
    for (const name of await fs.readdir(this.tmp)) await fs.rm(path.join(this.tmp, name), { force: true });
  }

  private pathOf(hash: string): string {
    return path.join(this.dir, hash.slice(0, 2), hash.slice(2));
  }

  async has(hash: string): Promise<boolean> {
    try {
      await fs.access(this.pathOf(hash));
      return true;
    } catch {
      return false;
    }
  }

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    if (await this.has(hash)) return;
    const target = this.pathOf(hash);
    try {
      await fs.mkdir(path.dirname(target), { recursive: true });
      await writeFileAtomic(target, this.tmp, bytes);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOSPC" || code === "EDQUOT") {
        throw new DropsimError("disk_full", `Cannot store block ${hash.slice(0, 12)}: the server's disk is full`, { cause: e });
      }
      throw new DropsimError("io", `Cannot store block ${hash.slice(0, 12)}: ${(e as Error).message}`, { cause: e });
    }
  }

  async get(hash: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await fs.readFile(this.pathOf(hash)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }
}

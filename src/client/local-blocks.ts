import * as path from "node:path";
import { hashBlock } from "../core/block-hash.ts";
import type { TempFile } from "../fsutil/atomic-write.ts";
import { RangeReader } from "../fsutil/range-reader.ts";
import { resolveInside } from "../fsutil/safe-resolve.ts";
import type { SyncContext } from "./context.ts";
import type { Synced } from "./local-index.ts";

/** Where a block's bytes can be read locally: an earlier file of this batch, or a synced file. */
export interface Source {
  abs: string;
  offset: number;
  /** Set while the block is in a file of this batch not renamed into place yet. */
  tmp?: TempFile;
}

/**
 * The blocks a download batch finds on this disk, looked for by hash: in the versions its
 * files replace, in files written (or partly written by an earlier attempt) during the batch,
 * and last in any synced file the index knows. Every block read is verified against its hash:
 * a file may have changed since any of these places learnt of it.
 */
export class LocalBlocks {
  /** Blocks written earlier in this batch; their temp path until `renamedTo` knows the final one. */
  private readonly written = new Map<string, Source>();
  private readonly renamedTo = new Map<string, string>();
  private readonly previous = new Map<string, Source>();
  private readonly reader: RangeReader;

  /**
   * `replaced`: the synced versions of the batch's files. Each holds most of its successor's
   * blocks, at known offsets: looked up here once instead of one index query per block.
   */
  constructor(
    private readonly ctx: SyncContext,
    replaced: Iterable<Synced>,
  ) {
    this.reader = new RangeReader(ctx.runtime.reclaimAfter);
    for (const known of replaced) {
      const abs = resolveInside(ctx.root, known.entry.path);
      let offset = 0;
      for (const [hash, size] of known.entry.blocks) {
        if (!this.previous.has(hash)) this.previous.set(hash, { abs, offset });
        offset += size;
      }
    }
  }

  /** `hash` is at `source` too, a file of this batch: kept if it is the first place known. */
  wrote(hash: string, source: Source): void {
    if (!this.written.has(hash)) this.written.set(hash, source);
  }

  /** The file of this batch at `tmpPath` is now at `abs`, whose old content is gone. */
  async renamed(tmpPath: string, abs: string): Promise<void> {
    this.renamedTo.set(tmpPath, abs);
    await this.reader.forget(abs);
  }

  /** True when a local copy of `hash` is known (not yet verified). */
  has(hash: string): boolean {
    return this.written.has(hash) || this.previous.has(hash) || this.ctx.index.findBlock(hash).length > 0;
  }

  /** Where `hash` is in the replaced versions: the first place known. */
  replacedAt(hash: string): Source | undefined {
    return this.previous.get(hash);
  }

  /** The bytes of `hash`, read from the first place that still holds them; undefined if none does. */
  async read(hash: string, size: number): Promise<Uint8Array | undefined> {
    const w = this.written.get(hash);
    const p = this.previous.get(hash);
    // The index is asked only when the likely places fail: one query per block adds up.
    const candidates: (Source | undefined)[] = [...(w ? [{ ...w, abs: this.renamedTo.get(w.abs) ?? w.abs }] : []), ...(p ? [p] : []), undefined];
    for (const c of candidates) {
      if (!c) {
        candidates.push(...this.ctx.index.findBlock(hash).map((s) => ({ abs: path.join(this.ctx.root, ...s.path.split("/")), offset: s.offset })));
        continue;
      }
      if (c.tmp?.path === c.abs) await c.tmp.flush();
      const bytes = await this.reader.read(c.abs, c.offset, size).catch(() => undefined);
      if (bytes && hashBlock(bytes) === hash) return bytes;
    }
    return undefined;
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}

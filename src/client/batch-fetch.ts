import type { BlockRef } from "../core/entry.ts";
import type { SyncContext } from "./context.ts";
import type { LocalBlocks } from "./local-blocks.ts";
import type { ServerPeer } from "./server-link.ts";

/**
 * The blocks of a download batch that no local file holds, fetched from the server in one
 * pipelined stream: each once, in the order the batch's files first need them. The files take
 * them in that order (`next`); a block needed again later is read from the file that took it.
 */
export class BatchFetch {
  /** The blocks the stream brings, with their sizes (what the download limit counts). */
  private readonly listed = new Map<string, number>();
  private readonly taken = new Set<string>();
  private readonly stream: AsyncGenerator<Uint8Array>;

  constructor(
    private readonly ctx: SyncContext,
    private readonly peer: ServerPeer,
    blocks: Iterable<BlockRef>,
    local: LocalBlocks,
  ) {
    const refs: BlockRef[] = [];
    for (const ref of blocks) {
      if (this.listed.has(ref[0]) || local.has(ref[0])) continue;
      this.listed.set(ref[0], ref[1]);
      refs.push(ref);
    }
    this.stream = ctx.fetcher.fetch(peer, refs);
  }

  /** True when the stream's next use of `hash` is still ahead: the caller must take it with `next`. */
  ahead(hash: string): boolean {
    return this.listed.has(hash) && !this.taken.has(hash);
  }

  /**
   * Paced by the download limit before the stream is asked: the fetcher requests more blocks
   * only as they are taken, so what the server is asked for keeps to the limit too.
   */
  async next(hash: string): Promise<Uint8Array> {
    await this.ctx.throttle.take("download", this.listed.get(hash) ?? 0);
    const r = await this.stream.next();
    if (r.done) throw new Error(`block stream ended before ${hash.slice(0, 12)}…`);
    this.taken.add(hash);
    return r.value;
  }

  /** A block fetched on its own: it was expected locally but is no longer there. */
  async one(ref: BlockRef): Promise<Uint8Array> {
    await this.ctx.throttle.take("download", ref[1]);
    for await (const bytes of this.ctx.fetcher.fetch(this.peer, [ref])) return bytes;
    throw new Error(`block ${ref[0].slice(0, 12)}… did not arrive`);
  }

  async close(): Promise<void> {
    await this.stream.return(undefined);
  }
}

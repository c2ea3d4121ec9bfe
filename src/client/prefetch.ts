import * as fs from "node:fs/promises";
import type { BlockRef } from "../core/entry.ts";
import { release } from "../core/release.ts";
import { TempFile } from "../fsutil/atomic-write.ts";
import type { Resumable, ResumeTarget } from "../fsutil/temp-dirs.ts";
import type { SyncContext } from "./context.ts";
import { roomFor } from "./disk-space.ts";
import type { Incoming, ServerPeer } from "./server-link.ts";

/** A streamed file not told of again for this long is given up: its upload stopped. */
const GIVE_UP_MS = 30_000;
/** Files streamed at once: each holds a temp file as big as the file. */
const MAX_FILES = 4;

/**
 * Downloads the new files another client is still uploading, as the server tells of their
 * blocks (`incoming`), so that the commit finds most of the file here (Dropbox's streaming
 * sync): on two cores W2 otherwise ran the receiver's download only after the upload. Each
 * file is written, block after checked block, to a temp file of its own. When the commit's
 * download comes (`claim`), the blocks streamed that begin the committed file become the
 * front of its partial file and only the rest is fetched; anything else streamed is dropped.
 * Nothing streamed is ever visible in the folder before that download's own checks and rename.
 */
export class Prefetcher {
  private readonly files = new Map<string, Streamed>();

  constructor(
    private readonly ctx: SyncContext,
    /** Paths this client would download (not excluded, not ignored). */
    private readonly wanted: (path: string) => boolean,
    private readonly giveUpMs = GIVE_UP_MS,
  ) {}

  /** The server told of more blocks of a file being uploaded. */
  incoming(peer: ServerPeer, m: Incoming): void {
    const known = this.files.get(m.path);
    if (known && known.accepts(m)) return known.add(m.blocks);
    // A new upload of the path (started again, or another file): what was streamed is of no use.
    if (known) this.drop(m.path);
    if (m.from !== 0 || this.files.size >= MAX_FILES || this.ctx.throttle.isPaused || !this.wanted(m.path)) return;
    const s = new Streamed(this.ctx, peer, m, () => this.drop(m.path), this.giveUpMs);
    this.files.set(m.path, s);
  }

  /**
   * The partial file for the download of `target`, begun with what was streamed of it; none
   * if nothing streamed begins it. The stream stops here: the download fetches the rest.
   */
  async claim(target: ResumeTarget): Promise<Resumable | undefined> {
    const s = this.files.get(target.path);
    if (!s) return undefined;
    this.files.delete(target.path);
    return s.adopt(target);
  }

  /** Stops every stream (the connection is gone, or the client stops) and removes their files. */
  dropAll(): void {
    for (const p of [...this.files.keys()]) this.drop(p);
  }

  private drop(path: string): void {
    const s = this.files.get(path);
    this.files.delete(path);
    s?.drop();
  }
}

/** One file being streamed: blocks told, blocks written, and the temp file they go to. */
class Streamed {
  private readonly told: BlockRef[] = [];
  private readonly size: number;
  private written = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The temp file once the stream stops; undefined if it failed (its file is gone then). */
  private readonly done: Promise<TempFile | undefined>;

  constructor(
    private readonly ctx: SyncContext,
    private readonly peer: ServerPeer,
    first: Incoming,
    private readonly giveUp: () => void,
    private readonly giveUpMs: number,
  ) {
    this.size = first.size;
    this.add(first.blocks);
    this.done = this.pump().catch(() => undefined);
  }

  /** `m` continues this stream: same file, the blocks right after those told. */
  accepts(m: Incoming): boolean {
    return m.size === this.size && m.from === this.told.length;
  }

  add(blocks: readonly BlockRef[]): void {
    this.told.push(...blocks);
    clearTimeout(this.timer);
    this.timer = setTimeout(this.giveUp, this.giveUpMs);
    this.timer.unref?.();
    this.wake?.();
  }

  drop(): void {
    this.stop();
    // A temp file that cannot be removed now goes when the client next starts (TempDirs.prepare).
    void this.done.then((tmp) => tmp?.abort()).catch(() => {});
  }

  /** The longest run of blocks written that begins `target`, as its partial file. */
  async adopt(target: ResumeTarget): Promise<Resumable | undefined> {
    this.stop();
    const tmp = await this.done;
    if (!tmp) return undefined;
    let blocks = 0;
    let bytes = 0;
    for (; blocks < this.written && blocks < target.blocks.length; blocks++) {
      const [hash, size] = target.blocks[blocks]!;
      if (this.told[blocks]![0] !== hash || this.told[blocks]![1] !== size) break;
      bytes += size;
    }
    try {
      await tmp.keep();
      if (blocks > 0) return await this.ctx.tmpDirs.adopt(target, tmp.path, { blocks, bytes });
    } catch {
      // A partial file we cannot keep is one the download does without.
    }
    await fs.rm(tmp.path, { force: true }).catch(() => {});
    return undefined;
  }

  private stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
  }

  /** Fetches what was told, in order, into the temp file, until stopped. */
  private async pump(): Promise<TempFile> {
    const { ctx } = this;
    if (!(await roomFor(ctx, this.size))) throw new Error("no room on the disk");
    const tmp = await TempFile.create(ctx.tmpDirs.next(), 0o644, this.size);
    try {
      while (!this.stopped) {
        if (this.written === this.told.length) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        const refs = this.told.slice(this.written);
        const stream = ctx.fetcher.fetch(this.peer, refs);
        try {
          for (const [, size] of refs) {
            await ctx.throttle.take("download", size);
            const next = await stream.next();
            if (next.done || this.stopped) break;
            await tmp.write(next.value);
            // Copied into the file's buffer: the frame's own memory is done with.
            release(next.value.buffer);
            this.written++;
          }
        } finally {
          await stream.return(undefined);
        }
      }
      return tmp;
    } catch (e) {
      await tmp.abort();
      throw e;
    }
  }
}

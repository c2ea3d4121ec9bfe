import { countWithin } from "../protocol/budget.ts";
import * as fs from "node:fs/promises";
import type { BlockRef, Content } from "../core/entry.ts";
import type { BlockSink } from "../fsutil/hash-file.ts";
import { readInto } from "../runtime/read-into.ts";
import { MAX_LIST, type MessageOf, type Op, type OpResult, type ServerMessage } from "../protocol/messages.ts";
import type { SyncContext } from "./context.ts";
import { absPath } from "./local-view.ts";
import { blockFrames } from "../protocol/peer.ts";
import type { ServerPeer } from "./server-link.ts";
import { startTransfer, type TransferProgress } from "./transfer-progress.ts";

/**
 * Block bytes we let queue on the socket before waiting for it to drain. The kernel's socket
 * buffer holds megabytes more, so 1 MiB keeps the pipe as full as 4 MiB did (W5: same speed,
 * a few MiB less peak RSS).
 */
const SEND_WINDOW = 1024 * 1024;
/** Block bytes read and sent at once (see `sendRuns`). */
const RUN_BYTES = 1024 * 1024;
/**
 * An early upload tells the server what it streamed after at least this many bytes or this
 * long (and at the end of each batch): a slow uplink still tells the others well within the
 * time after which they give a stream up (prefetch.ts).
 */
const STREAM_TELL_BYTES = 4 * 1024 * 1024;
const STREAM_TELL_MS = 1000;
/** Ops per apply request: keeps every message far below the frame limit. */
const OPS_PER_APPLY = 500;

export interface PlannedOp {
  op: Op;
  /** For puts of files: the content read locally, whose blocks must reach the server first. */
  content?: Content;
  /** The file's bytes when it is small and they were kept from hashing. */
  bytes?: Uint8Array;
}

/**
 * Sends a batch of local changes: one has_blocks round trip for all of their blocks, the
 * missing block bytes (re-read in runs, with backpressure), then the ops in as few
 * apply requests as fit. Returns one result per op, in order; an op whose file changed while
 * it was being sent is answered `undefined` (the file is marked dirty for the next pass).
 */
export async function uploadBatch(ctx: SyncContext, peer: ServerPeer, planned: PlannedOp[], early?: EarlyUploads): Promise<(OpResult | undefined)[]> {
  const all = new Set<string>();
  // A splice's untouched blocks are the server's already: only its new ones are asked about;
  // so are blocks an early upload sent or found there (the commit is refused should one be gone).
  for (const p of planned) {
    const refs = p.op.op === "put" ? (p.op.splice?.insert ?? p.content?.blocks) : undefined;
    for (const [h] of refs ?? []) if (!early?.hasSent(h)) all.add(h);
  }
  const missing = new Set<string>();
  const hashes = [...all];
  for (let i = 0; i < hashes.length; i += MAX_LIST) {
    const reply = await peer.request<MessageOf<ServerMessage, "missing">>({ type: "has_blocks", hashes: hashes.slice(i, i + MAX_LIST) });
    for (const h of reply.hashes) missing.add(h);
  }

  const sendable: boolean[] = [];
  for (const p of planned) sendable.push(!p.content || missing.size === 0 || (await sendBlocks(ctx, peer, p, missing)));

  const results: (OpResult | undefined)[] = planned.map(() => undefined);
  const ready = planned.map((p, i) => ({ p, i })).filter(({ i }) => sendable[i]);
  for (let start = 0; start < ready.length; ) {
    const next = ready.slice(start, start + OPS_PER_APPLY);
    // By size too: ops with big block lists or extended attributes (and the reply and push
    // they become) must fit one frame.
    const slice = next.slice(0, countWithin(next.map(({ p }) => p.op)));
    start += slice.length;
    const reply = await peer.request<MessageOf<ServerMessage, "applied">>({ type: "apply", ops: slice.map(({ p }) => p.op) });
    reply.results.forEach((r, k) => (results[slice[k]!.i] = r));
  }
  return results;
}

/**
 * Streams the blocks of one file the server lacks; false if the file no longer matches its plan.
 * Blocks are not hashed again: the server checks every block against its hash before keeping
 * it, and a file changed since it was hashed shows in its size or modification time (checked
 * before and after), so the commit is left for the next pass instead.
 */
async function sendBlocks(ctx: SyncContext, peer: ServerPeer, p: PlannedOp, missing: Set<string>): Promise<boolean> {
  if (p.op.op !== "put") return true;
  const op = p.op;
  const { blocks, size: bytes } = p.content!;
  if (!blocks.some(([h]) => missing.has(h))) return true;
  if (p.bytes) {
    // Hashed from these very bytes moments ago. Small (hash-file.ts's SMALL_FILE): sent at
    // once, no progress to tell.
    startTransfer(ctx.emit, op.path, "upload", bytes);
    let offset = 0;
    for (const [hash, size] of blocks) {
      if (missing.has(hash)) {
        await ctx.throttle.take("upload", size);
        if (missing.delete(hash)) peer.sendBlock(hash, p.bytes.subarray(offset, offset + size));
      }
      offset += size;
    }
    await peer.conn.drained(SEND_WINDOW);
    return true;
  }
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(absPath(ctx.root, op.path), "r");
  } catch {
    ctx.markDirty(op.path);
    return false;
  }
  const changed = async () => {
    const st = await handle.stat();
    if (st.size === op.size && st.mtimeMs === op.mtime) return false;
    ctx.markDirty(op.path);
    ctx.emit({ type: "file_failed", path: op.path, direction: "upload", reason: "it changed while it was being sent", retry: true });
    return true;
  };
  try {
    if (await changed()) return false;
    const progress = startTransfer(ctx.emit, op.path, "upload", bytes);
    for (const run of sendRuns(blocks, missing)) {
      if (!(await sendRun(ctx, peer, handle, run))) {
        await changed();
        return false;
      }
      for (const [hash] of run.blocks) missing.delete(hash);
      progress.at(run.offset + run.bytes);
    }
    return !(await changed());
  } finally {
    await handle.close();
  }
}

interface SendRun {
  /** Where the run starts in the file. */
  offset: number;
  bytes: number;
  blocks: BlockRef[];
}

/**
 * The missing blocks of a file in runs that lie end to end in it, of at most RUN_BYTES (a
 * bigger block alone), each read with one system call and sent with one write. A block that
 * occurs twice is sent once. `offset`: where the first of `blocks` starts in the file.
 */
function sendRuns(blocks: readonly BlockRef[], missing: ReadonlySet<string>, offset = 0): SendRun[] {
  const runs: SendRun[] = [];
  const taken = new Set<string>();
  let run: SendRun | undefined;
  for (const ref of blocks) {
    const [hash, size] = ref;
    if (missing.has(hash) && !taken.has(hash)) {
      taken.add(hash);
      if (!run || run.offset + run.bytes !== offset || run.bytes + size > RUN_BYTES) {
        run = { offset, bytes: 0, blocks: [] };
        runs.push(run);
      }
      run.blocks.push(ref);
      run.bytes += size;
    }
    offset += size;
  }
  return runs;
}

/** Reads one run into its frames and sends them, with backpressure; false if the file came up short. */
async function sendRun(ctx: SyncContext, peer: ServerPeer, handle: fs.FileHandle, run: SendRun): Promise<boolean> {
  const frames = blockFrames(run.blocks);
  if ((await readInto(handle, frames.bodies, run.offset)) !== run.bytes) return false;
  await ctx.throttle.take("upload", run.bytes);
  peer.sendFrame(frames.bytes, true);
  await peer.conn.drained(SEND_WINDOW);
  return true;
}

/**
 * Uploads the blocks of new big files while they are still being hashed, so that the server
 * checks and stores the first blocks while the sender reads the last (on two cores, W2 ran
 * as a hash phase, then an upload phase, each bound to one core). Only blocks travel here:
 * the commit is planned as usual, and uploadBatch, asking the server after `settled`, finds
 * them there. A file that changes meanwhile stops its early upload (its blocks no longer
 * match what is read); blocks sent for a file never committed are the server's garbage to
 * collect. Files already synced are edited, not new: they upload only what their plan
 * needs, so that an edit's bytes on the wire stay one block's worth.
 */
export class EarlyUploads {
  private readonly running: Promise<void>[] = [];
  /** Blocks the server was sent, or said it had, during this pass. */
  private readonly sent = new Set<string>();

  constructor(
    private readonly ctx: SyncContext,
    private readonly peer: ServerPeer,
  ) {}

  /** A sink for the blocks of the new file at `path` as they are cut; `stamp`: its stat when the pass looked. */
  start(path: string, stamp: { size: number; mtimeMs: number }): BlockSink {
    const upload = new EarlyUpload(this.ctx, this.peer, path, stamp, this.sent);
    this.running.push(upload.done);
    return upload;
  }

  /** The server was sent `hash`, or said it had it, in this pass: uploadBatch need not ask. */
  hasSent(hash: string): boolean {
    return this.sent.has(hash);
  }

  /** Every early upload has ended: the server has been sent all it will be sent. */
  async settled(): Promise<void> {
    await Promise.all(this.running.splice(0));
  }
}

class EarlyUpload implements BlockSink {
  /** Blocks cut and not yet asked about; the first one's number in the file, and where it starts. */
  private pending: BlockRef[] = [];
  private taken = 0;
  private offset = 0;
  /** When the server was last told what was streamed. */
  private toldAt = performance.now();
  private ended = false;
  private wake: (() => void) | undefined;
  /** Never rejects: a failed early upload leaves its blocks to uploadBatch. */
  readonly done: Promise<void>;

  constructor(
    private readonly ctx: SyncContext,
    private readonly peer: ServerPeer,
    private readonly path: string,
    private readonly stamp: { size: number; mtimeMs: number },
    /** Shared by a pass's early uploads (EarlyUploads.hasSent). */
    private readonly sent: Set<string>,
  ) {
    this.done = this.pump().catch(() => {});
  }

  add(blocks: readonly BlockRef[]): void {
    this.pending.push(...blocks);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /**
   * Asks the server about what was cut since it last asked, and sends what it lacks. While a
   * question is out, hashing goes on and the next one covers all it cut: on a slow link the
   * questions grow instead of waiting for each other.
   */
  private async pump(): Promise<void> {
    const { ctx, peer, stamp } = this;
    const handle = await fs.open(absPath(ctx.root, this.path), "r");
    try {
      let progress: TransferProgress | undefined;
      for (;;) {
        if (this.pending.length === 0) {
          if (this.ended) return;
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        const blocks = this.pending.splice(0, MAX_LIST);
        const from = this.taken;
        const offset = this.offset;
        this.taken += blocks.length;
        for (const [, size] of blocks) this.offset += size;
        const reply = await peer.request<MessageOf<ServerMessage, "missing">>({ type: "has_blocks", hashes: [...new Set(blocks.map(([h]) => h))] });
        const missing = new Set(reply.hashes);
        for (const [h] of blocks) if (!missing.has(h)) this.sent.add(h);
        // The blocks up to a file offset, told as streaming behind their bytes on the
        // connection (the server tells the others once it holds them): every STREAM_TELL_BYTES
        // or STREAM_TELL_MS, so that on a slow link the others follow the upload, not the
        // hashing far ahead of it, while a share's many clients get a message per few MiB.
        let told = 0;
        let toldEnd = offset;
        const tell = (upTo: number) => {
          const due = upTo === Number.POSITIVE_INFINITY || upTo - toldEnd >= STREAM_TELL_BYTES || performance.now() - this.toldAt >= STREAM_TELL_MS;
          if (!due) return;
          const start = told;
          while (told < blocks.length && toldEnd + blocks[told]![1] <= upTo) toldEnd += blocks[told++]![1];
          if (told === start) return;
          peer.send({ type: "streaming", path: this.path, size: stamp.size, from: from + start, blocks: blocks.slice(start, told) });
          this.toldAt = performance.now();
        };
        if (missing.size > 0) {
          const st = await handle.stat();
          if (st.size !== stamp.size || st.mtimeMs !== stamp.mtimeMs) return;
          progress ??= startTransfer(ctx.emit, this.path, "upload", stamp.size);
          for (const run of sendRuns(blocks, missing, offset)) {
            if (!(await sendRun(ctx, peer, handle, run))) return;
            for (const [h] of run.blocks) this.sent.add(h);
            progress.at(run.offset + run.bytes);
            tell(run.offset + run.bytes);
          }
        }
        tell(Number.POSITIVE_INFINITY);
      }
    } finally {
      await handle.close();
    }
  }
}

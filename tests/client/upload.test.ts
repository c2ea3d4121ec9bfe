import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import type { SyncContext } from "../../src/client/context.ts";
import type { SyncEvent } from "../../src/client/events.ts";
import { Throttle } from "../../src/client/rate-limit.ts";
import type { ServerPeer } from "../../src/client/server-link.ts";
import { EarlyUploads, type PlannedOp, uploadBatch } from "../../src/client/upload.ts";
import { HASH_BYTES, hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { BlockRef, Content } from "../../src/core/entry.ts";
import type { ClientMessage } from "../../src/protocol/messages.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

// uploadBatch against a fake peer: the server lacks every block and accepts every op.

const KiB = 1024;
let dir: TempDir;
let events: SyncEvent[];
let sent: number;
let ctx: SyncContext;
/** Runs at each frame write: lets a test change the file in the middle of a send. */
let onSend: () => void;

const peer = {
  async request(m: ClientMessage) {
    if (m.type === "has_blocks") return { type: "missing", hashes: m.hashes };
    if (m.type === "apply") return { type: "applied", head: 1, results: m.ops.map(() => ({ status: "ok", entries: [] })) };
    throw new Error(`unexpected ${m.type}`);
  },
  sendBlock: () => void sent++,
  sendFrame: (frames: Uint8Array) => {
    sent += countFrames(frames);
    onSend();
  },
  conn: { drained: async () => {} },
} as unknown as ServerPeer;

beforeEach(async () => {
  dir = await tempDir("dropsim-upload-");
  events = [];
  sent = 0;
  onSend = () => {};
  ctx = { root: dir.path, emit: (e: SyncEvent) => events.push(e), markDirty() {}, throttle: new Throttle({ up: null, down: null }) } as unknown as SyncContext;
});
afterEach(() => dir.remove());

/** A file of `count` blocks of `size` bytes written at `p`, and its put. */
async function put(p: string, count: number, size: number, keepBytes = false): Promise<PlannedOp> {
  const blocks = Array.from({ length: count }, (_, i) => new Uint8Array(size).fill(i + p.length));
  const bytes = new Uint8Array(Buffer.concat(blocks));
  await fs.writeFile(dir.join(p), bytes);
  const refs: BlockRef[] = blocks.map((b) => [hashBlock(b), b.length]);
  const content: Content = { kind: "file", size: bytes.length, mode: 0o644, hash: hashBlockList(refs.map(([h]) => h)), blocks: refs };
  return {
    op: { op: "put", path: p, kind: "file", baseVersion: 0, size: content.size, mode: 0o644, hash: content.hash, blocks: refs, mtime: (await fs.stat(dir.join(p))).mtimeMs },
    content,
    bytes: keepBytes ? bytes : undefined,
  };
}

/** Block frames laid end to end: 8-byte length, then that many bytes. */
function countFrames(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let n = 0;
  for (let at = 0; at < bytes.length; n++) at += 8 + Number(view.getBigUint64(at));
  return n;
}

describe("uploadBatch", () => {
  test("sends every missing block once, telling each file's start, then its progress as its runs go", async () => {
    await uploadBatch(ctx, peer, [await put("big.bin", 16, 128 * KiB), await put("small.txt", 1, 4 * KiB, true)]);
    expect(sent).toBe(17);
    expect(events).toEqual<SyncEvent[]>([
      { type: "file_started", path: "big.bin", direction: "upload", bytes: 2048 * KiB },
      ...[1, 2].map((q): SyncEvent => ({ type: "file_progress", path: "big.bin", direction: "upload", done: q * 1024 * KiB, bytes: 2048 * KiB })),
      { type: "file_started", path: "small.txt", direction: "upload", bytes: 4 * KiB },
    ]);
  });

  test("a block that occurs twice in a file goes once", async () => {
    const planned = await put("twice.bin", 2, 64 * KiB);
    const [a] = planned.content!.blocks;
    const twice = { ...planned, content: { ...planned.content!, blocks: [a!, a!] } };
    await fs.writeFile(dir.join("twice.bin"), new Uint8Array(128 * KiB).fill(1 + "twice.bin".length));
    twice.op = { ...twice.op, mtime: (await fs.stat(dir.join("twice.bin"))).mtimeMs } as typeof twice.op;
    await uploadBatch(ctx, peer, [twice]);
    expect(sent).toBe(1);
  });

  test("a file changed since it was hashed is told as failed, to be sent again, and not committed", async () => {
    const planned = await put("big.bin", 8, 128 * KiB);
    await fs.writeFile(dir.join("big.bin"), new Uint8Array(1024 * KiB));
    await fs.utimes(dir.join("big.bin"), new Date(), new Date(Date.now() + 5_000));
    const [result] = await uploadBatch(ctx, peer, [planned]);
    expect(result).toBeUndefined();
    expect(sent).toBe(0);
    expect(events).toEqual<SyncEvent[]>([{ type: "file_failed", path: "big.bin", direction: "upload", reason: "it changed while it was being sent", retry: true }]);
  });

  test("a file that changes while it is sent is told as failed, to be sent again, and not committed", async () => {
    const planned = await put("big.bin", 16, 128 * KiB);
    onSend = () => {
      onSend = () => {};
      appendFileSync(dir.join("big.bin"), "more");
    };
    const [result] = await uploadBatch(ctx, peer, [planned]);
    expect(result).toBeUndefined();
    expect(events.at(-1)).toEqual<SyncEvent>({ type: "file_failed", path: "big.bin", direction: "upload", reason: "it changed while it was being sent", retry: true });
  });
});

/**
 * A fake server that keeps what it is sent: has_blocks answers what it lacks, in order with
 * the frames before it (as the real session does); `failing` makes every request fail.
 */
function keepingPeer(opts: { failing?: boolean } = {}) {
  const stored = new Map<string, number>();
  const asked: string[][] = [];
  /** The `streaming` messages sent, each with how many blocks the server held when it was sent. */
  const streaming: { from: number; blocks: number; held: number }[] = [];
  const peer = {
    send(m: ClientMessage) {
      if (m.type !== "streaming") throw new Error(`unexpected ${m.type}`);
      streaming.push({ from: m.from, blocks: m.blocks.length, held: stored.size });
    },
    async request(m: ClientMessage) {
      if (opts.failing) throw new Error("connection lost");
      if (m.type === "has_blocks") {
        asked.push(m.hashes);
        return { type: "missing", hashes: m.hashes.filter((h) => !stored.has(h)) };
      }
      if (m.type === "apply") return { type: "applied", head: 1, results: m.ops.map(() => ({ status: "ok", entries: [] })) };
      throw new Error(`unexpected ${m.type}`);
    },
    sendBlock: (hash: string) => stored.set(hash, (stored.get(hash) ?? 0) + 1),
    sendFrame: (frames: Uint8Array) => {
      const view = new DataView(frames.buffer, frames.byteOffset, frames.length);
      for (let at = 0; at < frames.length; at += 8 + Number(view.getBigUint64(at))) {
        const hash = Buffer.from(frames.subarray(at + 9, at + 9 + HASH_BYTES)).toString("hex");
        stored.set(hash, (stored.get(hash) ?? 0) + 1);
      }
      onSend();
    },
    conn: { drained: async () => {} },
  } as unknown as ServerPeer;
  return { peer, stored, asked, streaming };
}

/** A new file of `count` blocks of 128 KiB, uploaded early in one go: the streaming it told. */
async function uploadedEarly(p: string, count: number) {
  const planned = await put(p, count, 128 * KiB);
  const { peer, streaming } = keepingPeer();
  const early = new EarlyUploads(ctx, peer);
  const sink = early.start(p, { size: count * 128 * KiB, mtimeMs: (await fs.stat(dir.join(p))).mtimeMs });
  sink.add(planned.content!.blocks);
  sink.end();
  await early.settled();
  return streaming;
}

describe("EarlyUploads", () => {
  test("sends a new file's blocks as they are cut, before the hashing ends; the upload after neither asks about them nor sends them", async () => {
    const planned = await put("new.bin", 16, 128 * KiB);
    const { peer, stored, streaming, asked } = keepingPeer();
    const early = new EarlyUploads(ctx, peer);
    const sink = early.start("new.bin", { size: planned.op.op === "put" ? planned.op.size : 0, mtimeMs: (await fs.stat(dir.join("new.bin"))).mtimeMs });
    const blocks = planned.content!.blocks;
    sink.add(blocks.slice(0, 8));
    await waitFor("the first 8 blocks to be sent", () => stored.size === 8 || `${stored.size} sent`);
    sink.add(blocks.slice(8));
    sink.end();
    await early.settled();
    expect([...stored.values()]).toEqual(Array(16).fill(1));
    const questions = asked.length;
    const [result] = await uploadBatch(ctx, peer, [planned], early);
    expect(result).toEqual({ status: "ok", entries: [] } as never);
    // Every block once, and the server was not asked again about them.
    expect([...stored.values()]).toEqual(Array(16).fill(1));
    expect(asked.length).toBe(questions);
    expect(events.filter((e) => e.type === "file_started")).toHaveLength(1);
    // Told to the others as it went, in order, each part once its blocks had been sent.
    expect(streaming).toEqual([
      { from: 0, blocks: 8, held: 8 },
      { from: 8, blocks: 8, held: 16 },
    ]);
  });

  test("what was streamed is told every 4 MiB sent and at the end, each part once its blocks went", async () => {
    expect(await uploadedEarly("six.bin", 48)).toEqual([
      { from: 0, blocks: 32, held: 32 },
      { from: 32, blocks: 16, held: 48 },
    ]);
  });

  test("on a slow uplink what was streamed is told at least every second, not only every 4 MiB", async () => {
    ctx = { ...ctx, throttle: new Throttle({ up: 1024 * KiB, down: null }) };
    const streaming = await uploadedEarly("slow.bin", 24);
    // 3 MiB at 1 MiB/s: under 4 MiB, yet told before the end as well.
    expect(streaming.length).toBeGreaterThanOrEqual(2);
    expect(streaming.map((m) => m.blocks).reduce((a, b) => a + b)).toBe(24);
    expect(streaming.map((m) => m.from)).toEqual(streaming.map((_, i) => streaming.slice(0, i).reduce((a, m) => a + m.blocks, 0)));
  });

  test("blocks the server has, or that occur again, are not sent", async () => {
    // The file holds blocks a, b, a, c; the server has b.
    const [a, b, c] = [1, 2, 3].map((n) => new Uint8Array(128 * KiB).fill(n)) as [Uint8Array, Uint8Array, Uint8Array];
    await fs.writeFile(dir.join("copy.bin"), Buffer.concat([a, b, a, c]));
    const [ra, rb, rc] = [a, b, c].map((x): BlockRef => [hashBlock(x), x.length]) as [BlockRef, BlockRef, BlockRef];
    const { peer, stored } = keepingPeer();
    stored.set(rb[0], 1);
    const early = new EarlyUploads(ctx, peer);
    const sink = early.start("copy.bin", { size: 4 * 128 * KiB, mtimeMs: (await fs.stat(dir.join("copy.bin"))).mtimeMs });
    sink.add([ra, rb]);
    await waitFor("a to be sent", () => stored.has(ra[0]) || "not yet");
    sink.add([ra, rc]);
    sink.end();
    await early.settled();
    expect(stored).toEqual(new Map([ra, rb, rc].map(([h]) => [h, 1])));
  });

  test("a file changed since the look sends nothing", async () => {
    const planned = await put("changed.bin", 4, 128 * KiB);
    const mtimeMs = (await fs.stat(dir.join("changed.bin"))).mtimeMs;
    appendFileSync(dir.join("changed.bin"), "more");
    const { peer, stored } = keepingPeer();
    const early = new EarlyUploads(ctx, peer);
    const sink = early.start("changed.bin", { size: 4 * 128 * KiB, mtimeMs });
    sink.add(planned.content!.blocks);
    sink.end();
    await early.settled();
    expect(stored.size).toBe(0);
  });

  test("a lost connection or a vanished file ends the early upload quietly: the pass finds out on its own", async () => {
    const planned = await put("lost.bin", 4, 128 * KiB);
    const early = new EarlyUploads(ctx, keepingPeer({ failing: true }).peer);
    const sink = early.start("lost.bin", { size: 4 * 128 * KiB, mtimeMs: (await fs.stat(dir.join("lost.bin"))).mtimeMs });
    sink.add(planned.content!.blocks);
    sink.end();
    const gone = early.start("gone.bin", { size: 1, mtimeMs: 0 });
    gone.end();
    await early.settled();
    expect(events).toEqual([]);
  });
});

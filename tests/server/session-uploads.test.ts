import { afterEach, beforeEach, expect, test } from "bun:test";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { PutOp } from "../../src/protocol/messages.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { DURABLE_EVERY } from "../../src/server/session.ts";
import { openStores } from "../../src/store/open.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { waitFor, waitUntil } from "../helpers/wait-for.ts";
import { type Client, closeRig, connect, openRig, type Rig } from "./_session-rig.ts";

// Blocks a session received are made durable in a data dir's pack store (in its index, where a
// resumed upload finds them after a restart) without waiting for a commit that refers to them.

const runtime = { openDatabase: openBunDatabase };
let scratch: TempDir;
let rig: Rig | undefined;

beforeEach(async () => {
  scratch = await tempDir("dropsim-uploads-");
});
afterEach(async () => {
  await closeRig(rig);
  rig = undefined;
  await scratch.remove();
});

async function ready(): Promise<Client> {
  rig = await openRig(await openStores(scratch.path, runtime));
  const c = connect(rig);
  await c.hello();
  return c;
}

/** Sends the blocks and waits until the session has stored them (it handles frames in order). */
async function upload(c: Client, blocks: Uint8Array[]): Promise<string[]> {
  const hashes = blocks.map((b) => hashBlock(b));
  blocks.forEach((b, i) => c.peer.sendBlock(hashes[i]!, b));
  expect(await c.request<"missing">({ type: "has_blocks", hashes })).toMatchObject({ hashes: [] });
  return hashes;
}

async function durable(): Promise<Set<string>> {
  return new Set((await rig!.shares.get("default")!.blocks.list()).map((b) => b.hash));
}

function block(i: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  b.fill(i + 1);
  b[0] = i;
  return b;
}

test("blocks a session received and never committed are durable once it ends, and there after a restart", async () => {
  const c = await ready();
  const hashes = await upload(c, [block(0, 1000), block(1, 2000)]);
  expect(await durable()).toEqual(new Set());
  c.conn.close();
  await waitFor("the blocks indexed", async () => {
    const d = await durable();
    return hashes.every((h) => d.has(h)) || `${d.size} of ${hashes.length}`;
  });
  await closeRig(rig);
  rig = await openRig(await openStores(scratch.path, runtime));
  expect(await durable()).toEqual(new Set(hashes));
  expect(await rig.shares.get("default")!.blocks.missing(hashes)).toEqual([]);
});

test(`blocks are made durable every ${DURABLE_EVERY / 2 ** 20} MiB received, in the background: the upload goes on meanwhile`, async () => {
  const c = await ready();
  const store = rig!.shares.get("default")!.blocks;
  const realSync = store.sync.bind(store);
  let diskDone!: () => void;
  const disk = new Promise<void>((resolve) => (diskDone = resolve));
  // A slow disk: the datasync takes until the test says.
  store.sync = async () => {
    await disk;
    return realSync();
  };
  const size = 7 * 2 ** 20;
  const count = Math.ceil(DURABLE_EVERY / size);
  const first = await upload(c, Array.from({ length: count - 1 }, (_, i) => block(i, size)));
  expect(await durable()).toEqual(new Set());
  // The first of these passes DURABLE_EVERY; the session answers for both while the datasync waits.
  let more: string[] | undefined;
  try {
    const next = upload(c, [block(count - 1, size), block(count, size)]).then((h) => (more = h));
    next.catch(() => {});
    await waitUntil("the session to store the blocks after the threshold while the datasync runs", () => more !== undefined, undefined, { timeout: 10_000 });
    expect(await durable()).toEqual(new Set());
  } finally {
    diskDone();
  }
  const expected = new Set([...first, ...more!]);
  await waitFor("the blocks received indexed", async () => {
    const d = await durable();
    return d.size === expected.size ? true : `${d.size} of ${expected.size} indexed`;
  });
  expect(await durable()).toEqual(expected);
});

test("a background datasync that fails leaves its blocks missing, and the commit needing them says why", async () => {
  const c = await ready();
  const store = rig!.shares.get("default")!.blocks;
  const pack = (store as unknown as { current: { handle: { datasync(): Promise<void> } } }).current.handle;
  const realSync = pack.datasync.bind(pack);
  let failures = 0;
  pack.datasync = () => (failures++ === 0 ? Promise.reject(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" })) : realSync());
  const size = 7 * 2 ** 20;
  const blocks = Array.from({ length: Math.ceil(DURABLE_EVERY / size) }, (_, i) => block(i, size));
  const hashes = blocks.map((b) => hashBlock(b));
  blocks.forEach((b, i) => c.peer.sendBlock(hashes[i]!, b));
  const op: PutOp = { op: "put", path: "big.bin", kind: "file", baseVersion: 0, size: size * blocks.length, mode: 0o644, hash: hashBlockList(hashes), blocks: hashes.map((h) => [h, size]), mtime: 5 };
  const refused = await c.request<"applied">({ type: "apply", ops: [op] });
  expect(refused.results).toEqual([expect.objectContaining({ status: "error", code: "io", message: expect.stringContaining("EIO") })]);
  expect(await c.request<"missing">({ type: "has_blocks", hashes })).toEqual(expect.objectContaining({ hashes }));
  // Sent again, they are kept.
  await upload(c, blocks);
  const applied = await c.request<"applied">({ type: "apply", ops: [op] });
  expect(applied.results).toEqual([expect.objectContaining({ status: "ok" })]);
});

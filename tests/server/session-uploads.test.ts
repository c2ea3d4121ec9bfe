import { afterEach, beforeEach, expect, test } from "bun:test";
import { hashBlock } from "../../src/core/block-hash.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { DURABLE_EVERY } from "../../src/server/session.ts";
import { openStores } from "../../src/store/open.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";
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

test(`blocks are made durable every ${DURABLE_EVERY / 2 ** 20} MiB received, while the upload goes on`, async () => {
  const c = await ready();
  const size = 7 * 2 ** 20;
  const count = Math.ceil(DURABLE_EVERY / size);
  const first = await upload(c, Array.from({ length: count - 1 }, (_, i) => block(i, size)));
  expect(await durable()).toEqual(new Set());
  const last = await upload(c, [block(count - 1, size)]);
  expect(await durable()).toEqual(new Set([...first, ...last]));
});

import { afterEach, expect, test } from "bun:test";
import { hashBlock } from "../../src/core/block-hash.ts";
import type { BlockRef } from "../../src/core/entry.ts";
import type { ServerMessage } from "../../src/protocol/messages.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { addToken, type Client, closeRig, connect, openRig, type Rig } from "./_session-rig.ts";

// `streaming` (protocol 3): a client uploading a new file tells the server of its blocks, and
// the server tells the share's other clients, which may fetch them before the commit.

let rig: Rig | undefined;
afterEach(async () => {
  await closeRig(rig);
  rig = undefined;
});

const blockOf = (text: string): { ref: BlockRef; bytes: Uint8Array } => {
  const bytes = new TextEncoder().encode(text);
  return { ref: [hashBlock(bytes), bytes.length], bytes };
};
const a = blockOf("first block");
const b = blockOf("second block");
/** A server with a sender and another client, both welcomed in this protocol. */
async function twoClients(): Promise<{ sender: Client; other: Client }> {
  rig = await openRig();
  const [sender, other] = [connect(rig), connect(rig)];
  await sender.hello("sender");
  await other.hello("other");
  return { sender, other };
}
const incoming = (c: Client) => c.pushes.filter((m): m is Extract<ServerMessage, { type: "incoming" }> => m.type === "incoming");

test("blocks told as streaming reach the share's other clients as incoming, once stored, in order; not the sender", async () => {
  const { sender, other } = await twoClients();
  sender.peer.sendBlock(a.ref[0], a.bytes);
  sender.peer.send({ type: "streaming", path: "big.bin", size: 100, from: 0, blocks: [a.ref] });
  sender.peer.sendBlock(b.ref[0], b.bytes);
  sender.peer.send({ type: "streaming", path: "big.bin", size: 100, from: 1, blocks: [b.ref] });
  await waitFor("both parts to reach the other client", () => incoming(other).length === 2 || `${incoming(other).length} so far`);
  expect(incoming(other)).toEqual([
    { type: "incoming", path: "big.bin", size: 100, from: 0, blocks: [a.ref] },
    { type: "incoming", path: "big.bin", size: 100, from: 1, blocks: [b.ref] },
  ]);
  // The other client can fetch them now.
  const done = await other.request<"blocks_done">({ type: "get_blocks", hashes: [a.ref[0], b.ref[0]] });
  expect(done.missing).toEqual([]);
  await sender.request({ type: "ping" });
  expect(incoming(sender)).toEqual([]);
});

test("blocks the server does not hold are not told: a client asking for them would fail its other downloads", async () => {
  const { sender, other } = await twoClients();
  sender.peer.send({ type: "streaming", path: "big.bin", size: 100, from: 0, blocks: [a.ref] });
  // A wrong size for a block it holds is not told either.
  sender.peer.sendBlock(b.ref[0], b.bytes);
  sender.peer.send({ type: "streaming", path: "big.bin", size: 100, from: 0, blocks: [[b.ref[0], b.ref[1] + 1]] });
  await sender.request({ type: "ping" });
  await other.request({ type: "ping" });
  expect(incoming(other)).toEqual([]);
});

test("a client that says protocol 2 is welcomed in it and never told incoming", async () => {
  rig = await openRig();
  const [sender, old] = [connect(rig), connect(rig)];
  await sender.hello("sender");
  const welcome = await old.request<"welcome">({ type: "hello", protocol: 2, clientId: "old", share: "default", token: rig.token });
  expect(welcome.protocol).toBe(2);
  sender.peer.sendBlock(a.ref[0], a.bytes);
  sender.peer.send({ type: "streaming", path: "big.bin", size: 100, from: 0, blocks: [a.ref] });
  await sender.request({ type: "ping" });
  await old.request({ type: "ping" });
  expect(incoming(old)).toEqual([]);
});

test("a read-only client cannot announce uploads", async () => {
  rig = await openRig();
  const reader = connect(rig, { token: addToken(rig.access, "default", "read_only") });
  const other = connect(rig);
  await reader.hello("reader");
  await other.hello("other");
  reader.peer.send({ type: "streaming", path: "big.bin", size: 100, from: 0, blocks: [a.ref] });
  await waitFor("the refusal", () => reader.pushes.some((m) => m.type === "error" && m.code === "read_only") || JSON.stringify(reader.pushes));
  await other.request({ type: "ping" });
  expect(incoming(other)).toEqual([]);
});

test("a client with a window of its own downloads queued is still told incoming; one far behind on reading is not", async () => {
  const { sender, other } = await twoClients();
  const queued = (bytes: number) => void ((other.session as unknown as { conn: { queuedBytes: number } }).conn.queuedBytes = bytes);
  // What a client fetching the streamed file itself keeps queued: the server's block send
  // window (4 MiB) and the run of blocks it wrote just before waiting for it (1 MiB). A notice
  // missed leaves a gap it cannot fill, and its stream of the file ends there.
  queued(5 * 2 ** 20);
  sender.peer.sendBlock(a.ref[0], a.bytes);
  sender.peer.send({ type: "streaming", path: "big.bin", size: 100, from: 0, blocks: [a.ref] });
  await sender.request({ type: "ping" });
  await other.request({ type: "ping" });
  expect(incoming(other).map((m) => m.from)).toEqual([0]);
  queued(64 * 2 ** 20);
  sender.peer.sendBlock(b.ref[0], b.bytes);
  sender.peer.send({ type: "streaming", path: "big.bin", size: 100, from: 1, blocks: [b.ref] });
  await sender.request({ type: "ping" });
  await other.request({ type: "ping" });
  expect(incoming(other).map((m) => m.from)).toEqual([0]);
});

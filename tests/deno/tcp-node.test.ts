import { expect, test } from "bun:test";
import { nodeTcp } from "../../src/runtime/tcp-node.ts";
import type { Connection } from "../../src/runtime/types.ts";
import { waitFor } from "../helpers/wait-for.ts";

// The node:net transport is what Deno runs; here Bun's node:net exercises the same code.

async function pair(onServerData: (bytes: Uint8Array) => void) {
  let serverConn: Connection | undefined;
  const listener = await nodeTcp.listen("127.0.0.1", 0, (conn) => {
    serverConn = conn;
    return { data: onServerData, close: () => {} };
  });
  const client = await nodeTcp.connect("127.0.0.1", listener.port, () => ({ data: () => {}, close: () => {} }));
  await waitFor("the server to accept", () => (serverConn ? true : "not yet"));
  return {
    client,
    server: serverConn!,
    close() {
      client.close();
      serverConn?.close();
      listener.close();
    },
  };
}

test("nodeTcp drained(0) resolves once a write below the high-water mark is flushed", async () => {
  const p = await pair(() => {});
  try {
    p.client.write(new Uint8Array(100));
    await p.client.drained(0);
    expect(p.client.queuedBytes).toBe(0);
  } finally {
    p.close();
  }
});

test("nodeTcp counts what a paused receiver has not taken and wakes drained waiters when it resumes", async () => {
  let received = 0;
  let sum = 0;
  const p = await pair((bytes) => {
    received += bytes.length;
    for (const b of bytes) sum += b;
  });
  try {
    p.server.pause();
    const chunk = new Uint8Array(1024 * 1024);
    let expectedSum = 0;
    for (let i = 0; i < 32; i++) {
      chunk.fill(i);
      expectedSum += i * chunk.length;
      p.client.write(chunk.slice());
    }
    await waitFor("writes to back up behind the paused receiver", () => (p.client.queuedBytes > 1024 * 1024 ? true : `${p.client.queuedBytes} queued`));
    let woke = false;
    const waiting = p.client.drained(1024 * 1024).then(() => (woke = true));
    await Bun.sleep(50);
    expect(woke).toBe(false);
    p.server.resume();
    await waiting;
    await p.client.drained(0);
    await waitFor("every byte to arrive", () => (received === 32 * 1024 * 1024 ? true : `${received} received`));
    expect(sum).toBe(expectedSum);
  } finally {
    p.close();
  }
});

test("nodeTcp close() gives up on a peer that reads nothing, and drained() waiters wake", async () => {
  const p = await pair(() => {});
  p.server.pause();
  for (let i = 0; i < 32; i++) p.client.write(new Uint8Array(1024 * 1024));
  await waitFor("writes to back up", () => (p.client.queuedBytes > 1024 * 1024 ? true : `${p.client.queuedBytes} queued`));
  const waiting = p.client.drained(0);
  p.close();
  await waiting;
  await waitFor("the client to see the close", () => (p.client.closed ? true : "still open"));
  expect(p.client.queuedBytes).toBe(0);
});

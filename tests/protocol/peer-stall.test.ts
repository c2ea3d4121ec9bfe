import { expect, test } from "bun:test";
import { serverMessages } from "../../src/protocol/messages.ts";
import { Peer } from "../../src/protocol/peer.ts";
import type { Connection } from "../../src/runtime/types.ts";

function quietPeer() {
  const conn: Connection = {
    remote: "test",
    write() {},
    queuedBytes: 0,
    drained: async () => {},
    pause() {},
    resume() {},
    close() {},
    closed: false,
  };
  return new Peer(conn, serverMessages, { message() {}, block() {}, protocolError() {}, closed() {} });
}

test("Peer is never stalled while it owes no reply, however long the silence", () => {
  const peer = quietPeer();
  expect(peer.stalledFor(Date.now() + 3_600_000, 30_000)).toBe(false);
});

test("Peer is stalled once a reply is owed and nothing arrived for the limit", () => {
  const peer = quietPeer();
  void peer.request({ type: "changes", since: 0 }).catch(() => {});
  expect(peer.stalledFor(Date.now(), 30_000)).toBe(false);
  expect(peer.stalledFor(Date.now() + 31_000, 30_000)).toBe(true);
});

test("Peer counts any incoming bytes as life, even an incomplete frame", () => {
  const peer = quietPeer();
  void peer.request({ type: "changes", since: 0 }).catch(() => {});
  const later = Date.now() + 20_000;
  const realNow = Date.now;
  Date.now = () => later;
  try {
    peer.events.data(new Uint8Array([0, 0, 0]));
  } finally {
    Date.now = realNow;
  }
  expect(peer.stalledFor(later + 20_000, 30_000)).toBe(false);
  expect(peer.stalledFor(later + 31_000, 30_000)).toBe(true);
});

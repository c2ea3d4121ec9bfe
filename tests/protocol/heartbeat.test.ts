import { describe, expect, test } from "bun:test";
import { encodeFrame, FrameDecoder, FrameType } from "../../src/protocol/frame-codec.ts";
import { clientMessages, encodeMessage, serverMessages } from "../../src/protocol/messages.ts";
import { DEFAULT_HEARTBEAT, heartbeatStep, type Liveness, Peer } from "../../src/protocol/peer.ts";
import type { Connection } from "../../src/runtime/types.ts";
import { Admission } from "../../src/server/admission.ts";
import { ServerMetrics } from "../../src/server/server-metrics.ts";
import { Session, type SessionHost } from "../../src/server/session.ts";
import { concatBytes } from "../helpers/bytes.ts";
import { waitFor } from "../helpers/wait-for.ts";

// Issue 9, item 19: a connection whose peer vanished without a FIN or RST (a laptop asleep, a
// changed network, a NAT that forgot it) is noticed by the client's heartbeat, and the server
// drops sessions that have said nothing for much longer.

const T = DEFAULT_HEARTBEAT; // ping after 10 s of quiet, dead after 25 s of silence

describe("heartbeatStep", () => {
  /** Times in seconds before `now` (0): when we last heard, said, pinged, first pinged unanswered. */
  const cases: [string, [number, number, number, number | undefined], "ping" | "dead" | undefined][] = [
    ["a connection that just heard and said something waits", [1, 1, 1, undefined], undefined],
    ["10 s without hearing anything calls for a ping", [10, 5, 20, undefined], "ping"],
    ["10 s without saying anything calls for a ping, so the server hears from an idle client", [1, 10, 30, undefined], "ping"],
    ["a ping is not repeated while the last one is younger than 10 s", [15, 4, 4, 4], undefined],
    ["an unanswered ping is repeated after 10 s", [20, 10, 10, 10], "ping"],
    ["25 s of silence with a ping unanswered for 10 s is a dead connection", [25, 5, 5, 15], "dead"],
    ["25 s of silence is not enough while the ping is younger than 10 s", [25, 9, 9, 9], undefined],
    ["silence without any ping asked (the process was asleep or busy) calls for a ping, not a verdict", [3600, 3600, 3600, undefined], "ping"],
    ["an hour without an answer to a ping is dead", [3600, 3600, 3590, 3590], "dead"],
  ];
  test.each(cases)("%s", (_name, [heard, said, pinged, unanswered], expected) => {
    const now = 1_000_000;
    const at = (s: number) => now - s * 1000;
    const liveness: Liveness = { heardAt: at(heard), saidAt: at(said), pingedAt: at(pinged), unansweredSince: unanswered === undefined ? undefined : at(unanswered) };
    expect(heartbeatStep(now, liveness, T)).toBe(expected);
  });

  test("the defaults notice a dead connection within 30 s, whatever the timer's phase", () => {
    // The link checks 5 times per ping interval: the worst case pings 2 s late and judges 2 s late.
    const tick = T.pingAfterMs / 5;
    for (let phase = 0; phase < tick; phase += 100) {
      const l: Liveness = { heardAt: 0, saidAt: 0, pingedAt: 0, unansweredSince: undefined };
      let noticed: number | undefined;
      for (let now = phase; noticed === undefined && now < 60_000; now += tick) {
        const step = heartbeatStep(now, l, T);
        if (step === "dead") noticed = now;
        if (step === "ping") {
          l.pingedAt = l.saidAt = now;
          l.unansweredSince ??= now;
        }
      }
      expect(noticed).toBeLessThanOrEqual(30_000);
    }
  });
});

/** A connection that keeps what is written to it, and counts as closed once `close` is called. */
function fakeConnection() {
  const written: Uint8Array[] = [];
  const conn = {
    remote: "test",
    write: (bytes: Uint8Array) => void written.push(bytes.slice()),
    queuedBytes: 0,
    drained: async () => {},
    pause() {},
    resume() {},
    close() {
      conn.closed = true;
    },
    closed: false as boolean,
  } satisfies Connection;
  const messages = () => new FrameDecoder().push(concatBytes(written)).map((f) => JSON.parse(new TextDecoder().decode(f.body)));
  return { conn, written, messages };
}

describe("Peer.heartbeat", () => {
  function clientPeer() {
    const fake = fakeConnection();
    const peer = new Peer(fake.conn, serverMessages, { message() {}, block() {}, protocolError() {}, closed() {} });
    return { peer, ...fake };
  }

  test("pings as a request, and counts any reply as life, an old server's error included", () => {
    const { peer, messages } = clientPeer();
    const now = Date.now();
    expect(peer.heartbeat(now + T.pingAfterMs, T, { type: "ping" })).toBe(false);
    const [ping] = messages();
    expect(ping).toEqual({ type: "ping", id: expect.any(Number) });
    const error = encodeFrame(FrameType.control, encodeMessage({ type: "error", id: ping.id, code: "unknown_type", message: 'Received a message of unknown type "ping"' }));
    const realNow = Date.now;
    Date.now = () => now + T.pingAfterMs + 1;
    try {
      peer.events.data(error);
    } finally {
      Date.now = realNow;
    }
    expect(peer.heartbeat(now + T.pingAfterMs + T.deadAfterMs, T, { type: "ping" })).toBe(false);
  });

  test("counts any incoming bytes as life, even an incomplete frame", () => {
    const { peer } = clientPeer();
    const now = Date.now();
    peer.heartbeat(now + T.pingAfterMs, T, { type: "ping" });
    const realNow = Date.now;
    Date.now = () => now + 20_000;
    try {
      peer.events.data(new Uint8Array([0, 0, 0]));
    } finally {
      Date.now = realNow;
    }
    expect(peer.heartbeat(now + 30_000, T, { type: "ping" })).toBe(false);
  });

  test("gives up on a peer that answers nothing, and abandoning it fails what waits on it at once", async () => {
    const { peer, conn } = clientPeer();
    const now = Date.now();
    const waiting = peer.request({ type: "changes", since: 0 });
    expect(peer.heartbeat(now + T.pingAfterMs, T, { type: "ping" })).toBe(false);
    expect(peer.heartbeat(now + T.deadAfterMs, T, { type: "ping" })).toBe(true);
    peer.abandon(new Error("gone"));
    expect(conn.closed).toBe(true);
    await expect(waiting).rejects.toThrow(/gone/);
  });
});

describe("Session", () => {
  function session(idleAfterMs?: number) {
    const fake = fakeConnection();
    const host = { log: { info() {}, warn() {}, error() {}, debug() {} }, metrics: new ServerMetrics(), admission: new Admission(), ended() {} } as unknown as SessionHost;
    const s = new Session(fake.conn, host, idleAfterMs);
    return { session: s, ...fake };
  }

  test("answers ping with pong, before hello too", async () => {
    const { session: s, messages } = session();
    s.events.data(encodeFrame(FrameType.control, encodeMessage({ type: "ping", id: 7 })));
    await waitFor("a pong", () => messages().length > 0 || "nothing written");
    expect(messages()).toEqual([{ type: "pong", id: 7 }]);
    s.events.close();
  });

  test("hangs up on a client that sent nothing for its idle limit", async () => {
    const { session: s, conn } = session(50);
    await waitFor("the session to close", () => conn.closed || "still open");
    s.events.close();
  });
});

test("ping and pong have strict schemas", () => {
  expect(clientMessages.ping.safeParse({ type: "ping", id: 1 }).success).toBe(true);
  expect(clientMessages.ping.safeParse({ type: "ping" }).success).toBe(false);
  expect(clientMessages.ping.safeParse({ type: "ping", id: 1, extra: true }).success).toBe(false);
  expect(serverMessages.pong.safeParse({ type: "pong", id: 1 }).success).toBe(true);
  expect(serverMessages.pong.safeParse({ type: "pong", id: -1 }).success).toBe(false);
});

import { describe, expect, test } from "bun:test";
import type { SyncEvent } from "../../src/client/events.ts";
import { connectFailure, OfflineClock, type Notice, troubleReason } from "../../src/client/link-trouble.ts";
import { type LinkIdentity, openSession, ServerLink, type ServerPeer } from "../../src/client/server-link.ts";
import { DropsimError } from "../../src/core/errors.ts";
import { type ClientMessage, serverMessages } from "../../src/protocol/messages.ts";
import { Peer } from "../../src/protocol/peer.ts";
import type { Connection, ConnectionEvents, Runtime } from "../../src/runtime/types.ts";
import { connectionPair } from "../helpers/memory-transport.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { welcomingPeer } from "../helpers/welcoming-peer.ts";

// What the server link says when the server cannot be reached, is not a dropsim server, stays
// silent, or drops the connection: one warning, attempts at debug level, a reminder now and then.

const ADDRESS = { host: "127.0.0.1", port: 7099 };
const IDENTITY: LinkIdentity = { clientId: "c", host: "h", share: "default", token: "dst_secret", tls: false };

function errno(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

describe("connect failures are worded by errno", () => {
  test.each([
    ["ECONNREFUSED", `cannot reach 127.0.0.1:7099: connection refused (is "dropsim serve" running there?)`],
    ["ETIMEDOUT", "cannot reach 127.0.0.1:7099: no answer (is the host up, and the port open in its firewall?)"],
    ["EHOSTUNREACH", "cannot reach 127.0.0.1:7099: no route to the host (is the network up?)"],
    ["ENOTFOUND", `cannot reach 127.0.0.1:7099: cannot resolve "127.0.0.1" (check the name, and the network)`],
    ["ECONNRESET", "cannot reach 127.0.0.1:7099: the connection was reset (a firewall, or a server that dropped it)"],
  ])("%s", (code, line) => {
    const e = connectFailure(ADDRESS, errno(code));
    expect(e).toBeInstanceOf(DropsimError);
    expect((e as DropsimError).code).toBe("unreachable");
    expect((e as DropsimError).message).toBe(line);
  });

  test("an IPv6 address is bracketed, and an error without an errno is passed on as it is", () => {
    expect((connectFailure({ host: "::1", port: 1 }, errno("ECONNREFUSED")) as Error).message).toStartWith("cannot reach [::1]:1: connection refused");
    const other = new DropsimError("tls", "Cannot make a TLS 1.3 connection");
    expect(connectFailure(ADDRESS, other)).toBe(other);
    expect(troubleReason("h", new Error("Connection closed"))).toBe("Connection closed");
  });
});

describe("OfflineClock", () => {
  test("the first failure is a warning, then debug lines, and a reminder every 5 minutes", () => {
    const clock = new OfflineClock();
    const said: [number, Notice][] = [0, 4_000, 299_000, 300_000, 304_000, 600_000].map((t) => [t, clock.failed(t)]);
    expect(said).toEqual([
      [0, { say: "warning" }],
      [4_000, { say: "debug" }],
      [299_000, { say: "debug" }],
      [300_000, { say: "reminder", offlineForMs: 300_000 }],
      [304_000, { say: "debug" }],
      [600_000, { say: "reminder", offlineForMs: 600_000 }],
    ]);
    expect(clock.online(665_000)).toBe(665_000);
    expect(clock.failed(700_000)).toEqual({ say: "warning" });
  });

  test("after a disconnect (its own warning) the failed attempts are debug lines", () => {
    const clock = new OfflineClock();
    expect(clock.online(0)).toBeUndefined();
    clock.dropped(1_000);
    expect(clock.failed(2_000)).toEqual({ say: "debug" });
    expect(clock.failed(301_000)).toEqual({ say: "reminder", offlineForMs: 300_000 });
    expect(clock.online(302_000)).toBe(301_000);
  });
});

type Attach = (conn: Connection) => ConnectionEvents;

function runtimeOf(connect: (attach: Attach) => Promise<Connection>): Runtime {
  return { tcp: { connect: (_h: string, _p: number, attach: Attach) => connect(attach) } } as unknown as Runtime;
}

function clientPeer(conn: Connection): ServerPeer {
  return new Peer(conn, serverMessages, { message: () => {}, block: () => {}, protocolError: () => {}, closed: () => {} });
}

/** A server end that writes `bytes` as soon as the client connects, and optionally hangs up. */
function sending(bytes: Uint8Array, hangUp: boolean) {
  return runtimeOf(async (attach) => {
    const [client, server] = connectionPair();
    server.attach({ data: () => {}, close: () => {} });
    client.attach(attach(client.conn));
    // A memory connection keeps no first bytes: kept here as an adapter does.
    Object.defineProperty(client.conn, "firstBytes", { value: bytes });
    server.conn.write(bytes);
    if (hangUp) server.conn.close();
    return client.conn;
  });
}

describe("openSession", () => {
  test("a server that accepts and says nothing fails at the deadline, named", async () => {
    const silent = runtimeOf(async (attach) => {
      const [client, server] = connectionPair();
      server.attach({ data: () => {}, close: () => {} });
      client.attach(attach(client.conn));
      return client.conn;
    });
    const started = performance.now();
    const attempt = openSession(silent, ADDRESS, IDENTITY, clientPeer, undefined, 200);
    await expect(attempt).rejects.toMatchObject({ code: "timeout", message: "127.0.0.1:7099 accepted the connection but did not answer within 0.2 s (is it a dropsim server?)" });
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("a connect that never completes fails at the deadline too", async () => {
    const attempt = openSession(runtimeOf(() => new Promise(() => {})), ADDRESS, IDENTITY, clientPeer, undefined, 100);
    await expect(attempt).rejects.toMatchObject({ code: "timeout", message: "127.0.0.1:7099 did not answer within 0.1 s (is it a dropsim server, and is the address right?)" });
  });

  test.each([
    ["an SSH server", "SSH-2.0-OpenSSH_9.6\r\n", false, `127.0.0.1:7099 is not a dropsim server: it sent "SSH-2.0-OpenSSH_9.6" (check the address and port)`],
    ["an HTTP server", "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n", true, `127.0.0.1:7099 is not a dropsim server: it sent "HTTP/1.1 400 Bad Request" (check the address and port)`],
    ["garbage", "\x01\x02\xffhello", true, `127.0.0.1:7099 is not a dropsim server: it sent "\\x01\\x02\\xffhello" (check the address and port)`],
  ])("%s is named for what it sent", async (_name, text, hangUp, message) => {
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    const attempt = openSession(sending(bytes, hangUp), ADDRESS, IDENTITY, clientPeer, undefined, 2_000);
    await expect(attempt).rejects.toMatchObject({ code: "not_dropsim", message });
  });
});

describe("ServerLink says connection trouble once", () => {
  function watch(runtime: Runtime) {
    const events: SyncEvent[] = [];
    const link = new ServerLink(runtime, ADDRESS, IDENTITY, (e) => events.push(e), {
      connected: () => {},
      changed: () => {},
      block: () => {},
      disconnected: () => {},
      gaveUp: () => {},
    });
    return { link, events, of: (type: string) => events.filter((e) => e.type === type) };
  }

  test("a refused connect is one warning with the reason, then attempts at debug level", async () => {
    let attempts = 0;
    const { link, of } = watch(
      runtimeOf(async () => {
        attempts++;
        throw errno("ECONNREFUSED");
      }),
    );
    link.start();
    await waitFor("three attempts", () => attempts >= 3 || `${attempts} attempts`);
    link.stop();
    const failures = of("unreachable") as Extract<SyncEvent, { type: "unreachable" }>[];
    expect(failures.map((e) => e.firstAttempt)).toEqual([true, ...failures.slice(1).map(() => false)]);
    expect(failures[0]).toMatchObject({ code: "unreachable", retryEveryMs: 4_000, reason: `cannot reach 127.0.0.1:7099: connection refused (is "dropsim serve" running there?)` });
  });

  test("a dropped connection is one warning; the failed attempts after it are not warnings; coming back says how long it was offline", async () => {
    const servers: Peer<ClientMessage, never>[] = [];
    let up = true;
    const runtime = runtimeOf(async (attach) => {
      if (!up) throw errno("ECONNREFUSED");
      const [client, server] = connectionPair();
      const peer = welcomingPeer(server.conn, []);
      servers.push(peer as unknown as Peer<ClientMessage, never>);
      server.attach(peer.events);
      client.attach(attach(client.conn));
      return client.conn;
    });
    const { link, events, of } = watch(runtime);
    link.start();
    await waitFor("connected", () => of("connected").length === 1 || "not yet");
    up = false;
    servers[0]!.close();
    await waitFor("two failed attempts", () => of("unreachable").length >= 2 || `${of("unreachable").length}`);
    up = true;
    await waitFor("reconnected", () => of("connected").length === 2 || "not yet");
    link.stop();
    expect(of("disconnected")).toHaveLength(1);
    expect(of("unreachable").every((e) => e.type === "unreachable" && !e.firstAttempt)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: "connected", reconnected: true, offlineForMs: expect.any(Number) });
  });
});

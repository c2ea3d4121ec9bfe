import { describe, expect, test } from "bun:test";
import type { SyncEvent } from "../../src/client/events.ts";
import { type LinkIdentity, ServerLink } from "../../src/client/server-link.ts";
import { DropsimError } from "../../src/core/errors.ts";
import type { ClientMessage, ServerMessage } from "../../src/protocol/messages.ts";
import type { Peer } from "../../src/protocol/peer.ts";
import type { Connection, Runtime } from "../../src/runtime/types.ts";
import { connectionPair } from "../helpers/memory-transport.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { welcomingPeer } from "../helpers/welcoming-peer.ts";

// The server link over in-memory connections that show a certificate, as a TLS adapter's do:
// the pin is checked before the hello (which carries the token) is sent.

const FP_A = `SHA256:${"a".repeat(64)}`;
const FP_B = `SHA256:${"b".repeat(64)}`;

/** A runtime whose every connection reaches a server that welcomes any hello, showing the next of `certificates`. */
function fakeRuntime(certificates: (string | undefined)[]) {
  const hellos: ClientMessage[] = [];
  const servers: Peer<ClientMessage, ServerMessage>[] = [];
  const tcp = {
    async connect(_host: string, _port: number, attach: (conn: Connection) => { data(b: Uint8Array): void; close(e?: Error): void }) {
      const [client, server] = connectionPair();
      const fingerprint = certificates.shift();
      if (fingerprint !== undefined) Object.defineProperty(client.conn, "peerFingerprint", { value: fingerprint });
      const peer = welcomingPeer(server.conn, hellos);
      servers.push(peer);
      server.attach(peer.events);
      client.attach(attach(client.conn));
      return client.conn;
    },
  };
  return { runtime: { tcp } as unknown as Runtime, hellos, servers };
}

function link(runtime: Runtime, fingerprint?: string, tls = true) {
  const events: SyncEvent[] = [];
  const seen: { connected: (string | undefined)[]; gaveUp: [DropsimError, string | undefined][] } = { connected: [], gaveUp: [] };
  const identity: LinkIdentity = { clientId: "c", host: "h", share: "default", token: "dst_secret", tls, fingerprint };
  const l = new ServerLink(runtime, { host: "127.0.0.1", port: 1 }, identity, (e) => events.push(e), {
    connected: (_p, _w, fp) => seen.connected.push(fp),
    changed: () => {},
    block: () => {},
    disconnected: () => {},
    gaveUp: (e, presented) => seen.gaveUp.push([e, presented]),
  });
  return { l, events, seen };
}

describe("ServerLink and the server's certificate", () => {
  test("the pinned certificate is let through and the hello sent", async () => {
    const fake = fakeRuntime([FP_A]);
    const { l, seen } = link(fake.runtime, FP_A);
    l.start();
    await waitFor("connected", () => seen.connected.length === 1 || "not yet");
    expect(seen.connected).toEqual([FP_A]);
    expect(fake.hellos).toHaveLength(1);
    l.stop();
  });

  test("another certificate stops the link for good before the hello: the token never leaves", async () => {
    const fake = fakeRuntime([FP_B, FP_A]);
    const { l, seen } = link(fake.runtime, FP_A);
    l.start();
    await waitFor("gave up", () => seen.gaveUp.length === 1 || "not yet");
    const [error, presented] = seen.gaveUp[0]!;
    expect(error.code).toBe("fingerprint_mismatch");
    expect(error.message).toBe(`The server at 127.0.0.1:1 presented certificate ${FP_B}, not ${FP_A} that this folder trusts`);
    expect(presented).toBe(FP_B);
    expect(fake.hellos).toEqual([]);
    expect(seen.connected).toEqual([]);
  });

  test("with nothing pinned the first certificate is trusted, and a server that shows another one later is refused", async () => {
    const fake = fakeRuntime([FP_A, FP_B]);
    const { l, seen } = link(fake.runtime);
    l.start();
    await waitFor("connected", () => seen.connected.length === 1 || "not yet");
    expect(seen.connected).toEqual([FP_A]);
    fake.servers[0]!.conn.close();
    await waitFor("gave up", () => seen.gaveUp.length === 1 || `connected ${seen.connected.length} times`);
    expect(seen.gaveUp[0]![0].code).toBe("fingerprint_mismatch");
    expect(seen.gaveUp[0]![1]).toBe(FP_B);
    expect(fake.hellos).toHaveLength(1);
  });

  test("a plain connection (--insecure) shows no certificate: nothing to check or pin", async () => {
    const fake = fakeRuntime([undefined]);
    const { l, seen } = link(fake.runtime, FP_A, false);
    l.start();
    await waitFor("connected", () => seen.connected.length === 1 || "not yet");
    expect(seen.connected).toEqual([undefined]);
    l.stop();
  });

  test("a TLS connection that shows no certificate is not trusted: the hello waits", async () => {
    const fake = fakeRuntime([undefined, FP_A]);
    const { l, seen, events } = link(fake.runtime, FP_A);
    l.start();
    await waitFor("connected on the second try", () => seen.connected.length === 1 || "not yet");
    expect(fake.hellos).toHaveLength(1);
    expect(events).toContainEqual(expect.objectContaining({ type: "unreachable", reason: "The TLS connection to 127.0.0.1:1 shows no certificate to check" }));
    l.stop();
  });
});

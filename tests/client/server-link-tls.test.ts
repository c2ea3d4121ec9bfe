import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ServerLink } from "../../src/client/server-link.ts";
import type { DropsimError } from "../../src/core/errors.ts";
import type { ClientMessage } from "../../src/protocol/messages.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import type { Listener, Runtime } from "../../src/runtime/types.ts";
import { createIdentity, type ServerIdentity, tlsServe } from "../../src/server/identity.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { welcomingPeer } from "../helpers/welcoming-peer.ts";

// The server link over the runtime's real TLS, against a listener with a self-made certificate
// that welcomes any hello: the pin is checked on the real handshake's certificate, and a plain
// connection to it hears why it is refused.

let runtime: Runtime;
let identity: ServerIdentity;
let listener: Listener;
const hellos: ClientMessage[] = [];

beforeAll(async () => {
  runtime = await loadRuntime();
  identity = await createIdentity();
  listener = await runtime.tcp.listen(
    "127.0.0.1",
    0,
    (conn) => {
      const peer = welcomingPeer(conn, hellos);
      return peer.events;
    },
    tlsServe(identity),
  );
});
afterAll(() => listener.close());

function connect(opts: { tls: boolean; fingerprint?: string }) {
  const seen: { connected: (string | undefined)[]; gaveUp: DropsimError[] } = { connected: [], gaveUp: [] };
  const link = new ServerLink(runtime, { host: "127.0.0.1", port: listener.port }, { clientId: "c", host: "h", share: "default", token: "dst_secret", ...opts }, () => {}, {
    connected: (_p, _w, fp) => seen.connected.push(fp),
    changed: () => {},
    block: () => {},
    disconnected: () => {},
    gaveUp: (e) => seen.gaveUp.push(e),
  });
  link.start();
  return { link, seen };
}

describe("ServerLink over TLS", () => {
  test("with nothing pinned, the server's certificate is trusted and reported as its fingerprint", async () => {
    const { link, seen } = connect({ tls: true });
    await waitFor("connected", () => seen.connected.length === 1 || `gave up: ${seen.gaveUp.map((e) => e.message)}`);
    expect(seen.connected).toEqual([identity.fingerprint]);
    link.stop();
  });

  test("the pinned certificate is let through", async () => {
    const { link, seen } = connect({ tls: true, fingerprint: identity.fingerprint });
    await waitFor("connected", () => seen.connected.length === 1 || `gave up: ${seen.gaveUp.map((e) => e.message)}`);
    link.stop();
  });

  test("a wrong pin stops the link before the hello", async () => {
    const before = hellos.length;
    const { seen } = connect({ tls: true, fingerprint: `SHA256:${"0".repeat(64)}` });
    await waitFor("gave up", () => seen.gaveUp.length === 1 || "not yet");
    expect(seen.gaveUp[0]!.code).toBe("fingerprint_mismatch");
    expect(seen.gaveUp[0]!.message).toContain(identity.fingerprint);
    expect(hellos.length).toBe(before);
  });

  test("plain TCP to a TLS-only server stops with tls_required, not a retry loop", async () => {
    const { seen } = connect({ tls: false });
    await waitFor("gave up", () => seen.gaveUp.length === 1 || `connected ${seen.connected.length} times`);
    expect(seen.gaveUp[0]!.code).toBe("tls_required");
  });
});

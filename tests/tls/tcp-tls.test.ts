import { beforeAll, describe, expect, test } from "bun:test";
import * as tls from "node:tls";
import { encodeFrame, FrameDecoder, FrameType } from "../../src/protocol/frame-codec.ts";
import { bunTcp } from "../../src/runtime/tcp-bun.ts";
import { nodeTcp } from "../../src/runtime/tcp-node.ts";
import type { Connection, Tcp, TlsServe } from "../../src/runtime/types.ts";
import { createIdentity, type ServerIdentity } from "../../src/server/identity.ts";
import { waitFor } from "../helpers/wait-for.ts";

// Both adapters over TLS, each as server and as client of the other (Bun's sockets and, under
// Bun, node:tls, the code Deno runs; tests/deno runs the real Deno). The certificate is the
// self-signed kind a server makes for itself.

const adapters: Record<string, Tcp> = { bun: bunTcp(() => {}), node: nodeTcp };
const REPLY = encodeFrame(FrameType.control, new TextEncoder().encode(JSON.stringify({ type: "error", code: "tls_required", message: "TLS only" })));
let identity: ServerIdentity;
let serve: TlsServe;
beforeAll(async () => {
  identity = await createIdentity();
  serve = { cert: identity.cert, key: identity.key, plaintextReply: REPLY };
});

interface Served {
  port: number;
  conns: Connection[];
  received: Uint8Array[];
  closes: (Error | undefined)[];
  close(): void;
}

async function listen(tcp: Tcp, opts: { echo?: boolean } = {}): Promise<Served> {
  const served: Omit<Served, "port" | "close"> = { conns: [], received: [], closes: [] };
  const listener = await tcp.listen(
    "127.0.0.1",
    0,
    (conn) => {
      served.conns.push(conn);
      return {
        data: (bytes) => {
          served.received.push(bytes.slice());
          if (opts.echo) conn.write(bytes.slice());
        },
        close: (e) => void served.closes.push(e),
      };
    },
    serve,
  );
  return { ...served, port: listener.port, close: () => listener.close() };
}

const pairs = [
  ["bun", "bun"],
  ["bun", "node"],
  ["node", "bun"],
  ["node", "node"],
] as const;

describe.each(pairs)("%s server, %s client", (serverName, clientName) => {
  const server = adapters[serverName]!;
  const client = adapters[clientName]!;

  test("TLS connection echoes bytes and shows the server's fingerprint before anything is sent", async () => {
    const s = await listen(server, { echo: true });
    try {
      let echoed = 0;
      const conn = await client.connect("127.0.0.1", s.port, () => ({ data: (b) => void (echoed += b.length), close: () => {} }), true);
      expect(conn.peerFingerprint).toBe(identity.fingerprint);
      conn.write(new Uint8Array(1000).fill(7));
      await waitFor("the echo", () => (echoed === 1000 ? true : `${echoed} bytes`));
      conn.close();
    } finally {
      s.close();
    }
  });

  test("TLS carries 32 MiB to a paused receiver without loss, and drained() waits for it", async () => {
    const s = await listen(server);
    try {
      const conn = await client.connect("127.0.0.1", s.port, () => ({ data: () => {}, close: () => {} }), true);
      await waitFor("the server to accept", () => (s.conns.length === 1 ? true : "not yet"));
      s.conns[0]!.pause();
      let expectedSum = 0;
      for (let i = 0; i < 32; i++) {
        const chunk = new Uint8Array(1024 * 1024).fill(i);
        expectedSum += i * chunk.length;
        conn.write(chunk);
      }
      await waitFor("writes to back up behind the paused receiver", () => (conn.queuedBytes > 1024 * 1024 ? true : `${conn.queuedBytes} queued`));
      s.conns[0]!.resume();
      await conn.drained(0);
      const total = () => s.received.reduce((n, b) => n + b.length, 0);
      await waitFor("every byte to arrive", () => (total() === 32 * 1024 * 1024 ? true : `${total()} received`));
      let sum = 0;
      for (const b of s.received) for (const x of b) sum += x;
      expect(sum).toBe(expectedSum);
      conn.close();
    } finally {
      s.close();
    }
  });

  test("a plaintext client reaching the TLS listener reads one plaintext error frame, then the close", async () => {
    const s = await listen(server);
    try {
      const decoder = new FrameDecoder();
      const frames: Uint8Array[] = [];
      let closed = false;
      const conn = await client.connect("127.0.0.1", s.port, () => ({
        data: (b) => void frames.push(...decoder.push(b).map((f) => f.body)),
        close: () => void (closed = true),
      }));
      conn.write(encodeFrame(FrameType.control, new TextEncoder().encode('{"type":"hello","id":1,"protocol":1}')));
      await waitFor("the server to close", () => (closed ? true : "open"));
      expect(frames.map((f) => JSON.parse(new TextDecoder().decode(f)))).toEqual([{ type: "error", code: "tls_required", message: "TLS only" }]);
      await waitFor("the server's connection to close", () => (s.closes.length === 1 ? true : "open"));
      expect(s.closes[0]).toMatchObject({ code: "tls_required" });
    } finally {
      s.close();
    }
  });
});

describe.each(Object.keys(adapters))("%s", (name) => {
  const tcp = adapters[name]!;

  test("a TLS listener refuses TLS 1.2", async () => {
    const s = await listen(tcp);
    try {
      const error = await new Promise<Error | undefined>((resolve) => {
        const socket = tls.connect({ host: "127.0.0.1", port: s.port, rejectUnauthorized: false, maxVersion: "TLSv1.2" }, () => resolve(undefined));
        socket.once("error", resolve);
      });
      expect(error).toBeInstanceOf(Error);
    } finally {
      s.close();
    }
  });

  test("connecting with TLS to a server that speaks plaintext fails with a tls error", async () => {
    const plain = await tcp.listen("127.0.0.1", 0, (conn) => ({ data: () => conn.write(new Uint8Array(64)), close: () => {} }));
    try {
      const attempt = tcp.connect("127.0.0.1", plain.port, () => ({ data: () => {}, close: () => {} }), true);
      await expect(attempt).rejects.toMatchObject({ code: "tls" });
    } finally {
      plain.close();
    }
  });
});

test("connecting with TLS to a server that never answers the handshake fails with a tls error after 10 s", async () => {
  const silent = await bunTcp(() => {}).listen("127.0.0.1", 0, () => ({ data: () => {}, close: () => {} }));
  try {
    const attempts = Object.values(adapters).map((tcp) => tcp.connect("127.0.0.1", silent.port, () => ({ data: () => {}, close: () => {} }), true));
    const outcomes = await Promise.allSettled(attempts);
    for (const o of outcomes) expect(o).toMatchObject({ status: "rejected", reason: { code: "tls", message: expect.stringContaining("no handshake within 10 s") } });
  } finally {
    silent.close();
  }
}, 30_000);

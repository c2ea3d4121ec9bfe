import * as net from "node:net";
import { Duplex } from "node:stream";
import { setTimeout } from "node:timers";
import * as tls from "node:tls";
import { certificateFingerprint } from "../core/cert-fingerprint.ts";
import { FirstBytes } from "../core/not-dropsim.ts";
import { HANDSHAKE_TIMEOUT_MS, handshakeFailed, plaintextRefused, TLS_HANDSHAKE_BYTE } from "./tls.ts";
import type { Connection, ConnectionEvents, Listener, Tcp } from "./types.ts";

/**
 * `node:net` transport, used under Deno (and Node). node:net buffers writes itself; what it
 * has not handed to the kernel yet is counted here from each write's completion callback.
 * (Its `drain` event is no substitute: it fires only after a write crossed the high-water
 * mark, so a wait for "at most N bytes queued" below that mark would never wake.)
 */
const CLOSE_GRACE_MS = 2_000;

class NodeConnection implements Connection {
  closed = false;
  readonly first = new FirstBytes();
  private pending = 0;
  private waiters: { below: number; resolve: () => void }[] = [];

  constructor(
    private readonly socket: net.Socket,
    readonly remote: string,
    readonly peerFingerprint?: string,
  ) {}
  write(bytes: Uint8Array): void {
    if (this.closed) return;
    const n = bytes.length;
    this.pending += n;
    this.socket.write(bytes, () => {
      // After a close the count is already 0: late callbacks (with errors) change nothing.
      if (this.closed) return;
      this.pending -= n;
      this.wake();
    });
  }
  get queuedBytes(): number {
    return this.pending;
  }
  get firstBytes(): Uint8Array {
    return this.first.bytes;
  }
  drained(bytes = 0): Promise<void> {
    if (this.closed || this.pending <= bytes) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ below: bytes, resolve }));
  }
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  /**
   * Ends after what is queued has been sent (a final error frame gets through), but a peer
   * that reads nothing must not hold the socket open forever: after a grace period it is
   * destroyed. (Bun's adapter drops its queue on close for the same reason.)
   */
  close(): void {
    if (this.closed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }
  /** Called on close: nothing queued will be sent any more. */
  ended(): void {
    this.closed = true;
    this.pending = 0;
    this.wake();
  }
  private wake(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (this.closed || this.pending <= w.below ? w.resolve() : still.push(w));
    this.waiters = still;
  }
}

function wire(socket: net.Socket, conn: NodeConnection, events: ConnectionEvents): void {
  socket.on("data", (data: Uint8Array) => {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    conn.first.push(bytes);
    events.data(bytes);
  });
  let lastError: Error | undefined;
  socket.on("error", (e) => (lastError = e));
  socket.on("close", () => {
    conn.ended();
    events.close(lastError);
  });
}

export const nodeTcp: Tcp = {
  listen(host, port, accept, tlsServe): Promise<Listener> {
    const context = tlsServe && tls.createSecureContext({ cert: tlsServe.cert, key: tlsServe.key, minVersion: "TLSv1.3" });
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        socket.setNoDelay(true);
        const remote = `${socket.remoteAddress}:${socket.remotePort}`;
        if (!tlsServe) {
          const conn = new NodeConnection(socket, remote);
          return wire(socket, conn, accept(conn));
        }
        // Destroyed with the reason: its close event then carries it to the session.
        const secure: tls.TLSSocket = new tls.TLSSocket(sniffed(socket, tlsServe.plaintextReply, () => secure.destroy(plaintextRefused(remote))), {
          isServer: true,
          secureContext: context!,
        });
        const conn = new NodeConnection(secure, remote);
        wire(secure, conn, accept(conn));
      });
      server.once("error", reject);
      server.listen(port, host, () => {
        // Later errors are accept's (EMFILE, ENFILE): libuv has closed that one connection and
        // goes on listening, as the server must; unheard, a second one would end the process.
        server.off("error", reject);
        server.on("error", () => {});
        const address = server.address() as net.AddressInfo;
        resolve({ port: address.port, close: () => server.close() });
      });
    });
  },

  connect(host, port, attach, useTls): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const address = `${host}:${port}`;
      let connected = false;
      const raw = net.connect(port, host);
      // What the peer sends before TLS reads it: a failed handshake names a peer that is no TLS server.
      const sent = new FirstBytes();
      // No CA check: a dropsim server's certificate is self-signed, and its pinned fingerprint is the check.
      const socket = useTls
        ? tls.connect({ socket: transport(raw, (chunk) => (sent.push(chunk), true)), rejectUnauthorized: false, minVersion: "TLSv1.3" })
        : raw;
      const timer = useTls
        ? setTimeout(() => {
            reject(handshakeFailed(address, new Error(`no handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`), sent.bytes));
            socket.destroy();
          }, HANDSHAKE_TIMEOUT_MS)
        : undefined;
      const failed = (e: Error) => {
        clearTimeout(timer);
        reject(useTls && connected ? handshakeFailed(address, e, sent.bytes) : e);
      };
      socket.once("error", failed);
      raw.once("connect", () => {
        connected = true;
        raw.setNoDelay(true);
      });
      socket.once(useTls ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        socket.off("error", failed);
        const der = useTls ? (socket as tls.TLSSocket).getPeerX509Certificate()?.raw : undefined;
        const conn = new NodeConnection(socket, address, der && certificateFingerprint(der));
        wire(socket, conn, attach(conn));
        resolve(conn);
      });
    });
  },
};

/**
 * The raw socket as the TLS layer's transport, after a look at its first byte: node:tls has no
 * peek, so the stream the TLS socket reads is fed by hand. A first byte that opens no TLS
 * handshake gets the plaintext reply and an end, and the TLS layer never sees it.
 */
function sniffed(raw: net.Socket, plaintextReply: Uint8Array, refuse: () => void): Duplex {
  let first = true;
  const inspect = (chunk: Uint8Array) => {
    if (first && chunk[0] !== TLS_HANDSHAKE_BYTE) return false;
    first = false;
    return true;
  };
  return transport(raw, inspect, () => {
    raw.end(plaintextReply);
    setTimeout(() => raw.destroy(), CLOSE_GRACE_MS).unref();
    refuse();
  });
}

/**
 * The raw socket as a stream the TLS layer reads, each chunk seen first by `inspect`. The first
 * it refuses goes to `refused` instead, and nothing more reaches the TLS layer: the raw socket
 * is then the caller's (a refused client still has its reply to read, so destroying the stream
 * leaves it open).
 */
function transport(raw: net.Socket, inspect: (chunk: Uint8Array) => boolean, refused: () => void = () => {}): Duplex {
  let done = false;
  const duplex = new Duplex({
    read: () => void raw.resume(),
    write: (chunk: Uint8Array, _encoding, callback) => void raw.write(chunk, callback),
    final: (callback) => void raw.end(callback),
    destroy: (error, callback) => {
      if (!done) raw.destroy();
      callback(error);
    },
  });
  raw.on("data", (chunk: Uint8Array) => {
    if (done) return;
    if (!inspect(chunk)) {
      done = true;
      return refused();
    }
    if (!duplex.push(chunk)) raw.pause();
  });
  raw.on("end", () => duplex.push(null));
  raw.on("error", (e) => duplex.destroy(e));
  raw.on("close", () => duplex.destroy());
  return duplex;
}

import type { Socket } from "bun";
import { certificateFingerprint } from "../core/cert-fingerprint.ts";
import { FirstBytes } from "../core/not-dropsim.ts";
import { HANDSHAKE_TIMEOUT_MS, handshakeFailed, plaintextRefused, TLS13_ONLY, TLS_HANDSHAKE_BYTE } from "./tls.ts";
import type { Connection, ConnectionEvents, Listener, Reclaim, Tcp, TlsServe } from "./types.ts";
import { release, wholeBuffer } from "../core/release.ts";
import { WriteQueue } from "./write-queue.ts";

const CLOSE_GRACE_MS = 2000;

interface State {
  conn: BunConnection;
  events?: ConnectionEvents;
}

class BunConnection implements Connection {
  readonly queue: WriteQueue;
  readonly first = new FirstBytes();
  closed = false;

  constructor(
    private readonly socket: Socket<State>,
    readonly remote: string,
    private readonly reclaimAfter: Reclaim,
    readonly peerFingerprint?: string,
  ) {
    // Bun's write is unbuffered: it returns how much the kernel took, which may be a part.
    this.queue = new WriteQueue((bytes) => socket.write(bytes));
  }
  write(bytes: Uint8Array, transient = false): void {
    // Transient bytes are freed by the queue once the kernel has them: no garbage to collect.
    if (!transient) this.reclaimAfter(bytes.length);
    this.queue.write(bytes, transient);
  }
  get queuedBytes(): number {
    return this.queue.bytes;
  }
  get firstBytes(): Uint8Array {
    return this.first.bytes;
  }
  drained(bytes = 0): Promise<void> {
    return this.queue.drained(bytes);
  }
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  close(): void {
    if (this.closed) return;
    this.socket.end();
    // A peer that never closes its side (hung, or not reading) must not keep us half-open.
    setTimeout(() => this.closed || this.socket.terminate(), CLOSE_GRACE_MS).unref?.();
  }
}

function handlers(reclaimAfter: Reclaim) {
  return {
    binaryType: "uint8array" as const,
    data(socket: Socket<State>, data: Uint8Array) {
      // Passed on as is: the frame decoder copies what it keeps, so nothing relies on Bun not
      // reusing this buffer, and nothing needs it once handled: freed at once.
      socket.data.conn.first.push(data);
      socket.data.events?.data(data);
      reclaimAfter(data.length);
      freeRead(data);
    },
    drain(socket: Socket<State>) {
      socket.data.conn.queue.flush();
    },
    close(socket: Socket<State>, error?: Error) {
      const { conn, events } = socket.data;
      if (conn.closed) return;
      conn.closed = true;
      conn.queue.end();
      events?.close(error);
    },
    error(socket: Socket<State>, error: Error) {
      socket.data.events?.close(error);
    },
  };
}

/** Bun's TCP sockets; `reclaimAfter` is told of every buffer read or written. */
export function bunTcp(reclaimAfter: Reclaim): Tcp {
  return {
    async listen(host, port, accept, tls): Promise<Listener> {
      if (tls) return listenTls(host, port, accept, tls, reclaimAfter);
      const server = Bun.listen<State>({
        hostname: host,
        port,
        socket: {
          ...handlers(reclaimAfter),
          open(socket) {
            const conn = new BunConnection(socket, `${socket.remoteAddress}`, reclaimAfter);
            socket.data = { conn };
            socket.data.events = accept(conn);
          },
        },
      });
      return { port: server.port, close: () => server.stop(true) };
    },

    async connect(host, port, attach, tls): Promise<Connection> {
      if (tls) return connectTls(host, port, attach, reclaimAfter);
      let made: BunConnection | undefined;
      await Bun.connect<State>({
        hostname: host,
        port,
        socket: {
          ...handlers(reclaimAfter),
          open(socket) {
            made = new BunConnection(socket, `${host}:${port}`, reclaimAfter);
            socket.data = { conn: made };
            socket.data.events = attach(made);
          },
        },
      });
      return made!;
    },
  };
}

/**
 * A socket's read, once handled. Bun 1.4.5 hands each read over in a fresh buffer (140 reads of
 * a 64 MiB stream, 140 buffers), and a TLS connection's raw socket is handed every read
 * (encrypted) as its TLS socket is handed it decrypted: left to the collector, a 512 MiB upload
 * left 512 MiB of them behind, and the pacing in reclaim.ts then collected at its cap, a tenth
 * of the CPU of the server and the receiver.
 */
function freeRead(bytes: Uint8Array): void {
  if (wholeBuffer(bytes)) release(bytes.buffer);
}

/** A TLS connection's state, shared by its raw socket and its TLS socket. */
interface Sniffed extends State {
  /** Its first bytes were seen. */
  sniffed: boolean;
}

/**
 * Bun cannot peek at a socket before its TLS layer reads it, so each connection is accepted
 * plain and upgraded at once; the raw socket still sees the bytes as they arrive, and a first
 * byte that opens no handshake gets the plaintext reply and a close (the TLS layer's own alert,
 * which may follow, means nothing to an older dropsim). (The raw handlers are the listener's,
 * shared by all its sockets, so they cannot be dropped after the first read: it costs one early
 * return per read.)
 */
async function listenTls(host: string, port: number, accept: (conn: Connection) => ConnectionEvents, tls: TlsServe, reclaimAfter: Reclaim): Promise<Listener> {
  const secureHandlers = handlers(reclaimAfter);
  const server = Bun.listen<Sniffed>({
    hostname: host,
    port,
    socket: {
      binaryType: "uint8array",
      open(raw) {
        // Set before the upgrade: after it, the raw socket's address and data can no longer be set or read.
        const remote = `${raw.remoteAddress}`;
        const state = { sniffed: false } as Sniffed;
        raw.data = state;
        let secure: Socket<Sniffed>;
        try {
          [, secure] = raw.upgradeTLS<Sniffed>({ tls: { cert: tls.cert, key: tls.key, secureOptions: TLS13_ONLY }, socket: secureHandlers });
        } catch {
          // Thrown from a socket handler, this would end the whole server: one connection it
          // cannot serve must not. (Identities are parsed when made or read, so a certificate
          // TLS refuses never gets this far.)
          state.sniffed = true;
          raw.terminate();
          return;
        }
        state.conn = new BunConnection(secure, remote, reclaimAfter);
        secure.data = state;
        state.events = accept(state.conn);
      },
      data(raw, bytes) {
        const state = raw.data;
        const first = !state.sniffed;
        state.sniffed = true;
        const handshake = bytes[0] === TLS_HANDSHAKE_BYTE;
        freeRead(bytes);
        if (!first || handshake) return;
        // Told before the end below, which closes the TLS socket at once (without a reason).
        state.conn.closed = true;
        state.conn.queue.end();
        state.events?.close(plaintextRefused(state.conn.remote));
        raw.write(tls.plaintextReply);
        raw.end();
        setTimeout(() => raw.terminate(), CLOSE_GRACE_MS).unref?.();
      },
      drain() {},
    },
  });
  return { port: server.port, close: () => server.stop(true) };
}

/**
 * Resolves after the handshake, with the certificate's fingerprint on the connection, so nothing
 * is sent to a server before it is checked. The socket is made plain and upgraded at once (as
 * `listenTls` does): the raw socket still sees what the peer sends, which names a peer that is
 * no TLS server when the handshake fails.
 */
async function connectTls(host: string, port: number, attach: (conn: Connection) => ConnectionEvents, reclaimAfter: Reclaim): Promise<Connection> {
  const address = `${host}:${port}`;
  const base = handlers(reclaimAfter);
  const sent = new FirstBytes();
  const { promise, resolve, reject } = Promise.withResolvers<Connection>();
  const raw = await Bun.connect<undefined>({
    hostname: host,
    port,
    socket: {
      binaryType: "uint8array",
      data: (_raw, bytes) => {
        sent.push(bytes);
        freeRead(bytes);
      },
      drain() {},
    },
  });
  const failed = (error: Error | null | undefined) => reject(handshakeFailed(address, error, sent.bytes));
  const [, socket] = raw.upgradeTLS<State | undefined>({
    // No CA check: a dropsim server's certificate is self-signed, and its pinned fingerprint is the check.
    tls: { rejectUnauthorized: false, secureOptions: TLS13_ONLY },
    socket: {
      ...base,
      handshake(socket, _authorized, error) {
        const der = socket.getPeerX509Certificate()?.raw;
        if (!der || socket.getTLSVersion() !== "TLSv1.3") {
          socket.terminate();
          return failed(error);
        }
        const conn = new BunConnection(socket as Socket<State>, address, reclaimAfter, certificateFingerprint(der));
        socket.data = { conn };
        socket.data.events = attach(conn);
        resolve(conn);
      },
      close(socket, error) {
        if (socket.data) return base.close(socket as Socket<State>, error);
        failed(error);
      },
      error(socket, error) {
        if (socket.data) return base.error(socket as Socket<State>, error);
        failed(error);
      },
    },
  });
  const timer = setTimeout(() => {
    failed(new Error(`no handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`));
    socket.terminate();
  }, HANDSHAKE_TIMEOUT_MS);
  return promise.finally(() => clearTimeout(timer));
}

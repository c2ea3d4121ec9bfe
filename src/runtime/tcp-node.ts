import * as net from "node:net";
import { setTimeout } from "node:timers";
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
  private pending = 0;
  private waiters: { below: number; resolve: () => void }[] = [];

  constructor(
    private readonly socket: net.Socket,
    readonly remote: string,
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
  socket.setNoDelay(true);
  socket.on("data", (data: Uint8Array) => events.data(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
  let lastError: Error | undefined;
  socket.on("error", (e) => (lastError = e));
  socket.on("close", () => {
    conn.ended();
    events.close(lastError);
  });
}

export const nodeTcp: Tcp = {
  listen(host, port, accept): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        const conn = new NodeConnection(socket, `${socket.remoteAddress}:${socket.remotePort}`);
        wire(socket, conn, accept(conn));
      });
      server.once("error", reject);
      server.listen(port, host, () => {
        const address = server.address() as net.AddressInfo;
        resolve({ port: address.port, close: () => server.close() });
      });
    });
  },

  connect(host, port, attach): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        const conn = new NodeConnection(socket, `${host}:${port}`);
        wire(socket, conn, attach(conn));
        resolve(conn);
      });
    });
  },
};

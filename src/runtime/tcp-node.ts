import * as net from "node:net";
import type { Connection, ConnectionEvents, Listener, Tcp } from "./types.ts";

/**
 * `node:net` transport, used under Deno (and Node). node:net buffers writes itself, so
 * backpressure is its `writableLength` and `drain` event.
 */
class NodeConnection implements Connection {
  closed = false;

  constructor(
    private readonly socket: net.Socket,
    readonly remote: string,
  ) {}
  write(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes);
  }
  get queuedBytes(): number {
    return this.socket.writableLength;
  }
  drained(bytes = 0): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.closed || this.socket.writableLength <= bytes) {
          this.socket.off("close", check);
          resolve();
        } else this.socket.once("drain", check);
      };
      this.socket.once("close", check);
      check();
    });
  }
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  close(): void {
    this.socket.end();
  }
}

function wire(socket: net.Socket, conn: NodeConnection, events: ConnectionEvents): void {
  socket.setNoDelay(true);
  socket.on("data", (data: Uint8Array) => events.data(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
  let lastError: Error | undefined;
  socket.on("error", (e) => (lastError = e));
  socket.on("close", () => {
    conn.closed = true;
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

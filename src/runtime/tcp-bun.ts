import type { Socket } from "bun";
import type { Connection, ConnectionEvents, Listener, Reclaim, Tcp } from "./types.ts";
import { WriteQueue } from "./write-queue.ts";

const CLOSE_GRACE_MS = 2000;

interface State {
  conn: BunConnection;
  events?: ConnectionEvents;
}

class BunConnection implements Connection {
  readonly queue: WriteQueue;
  closed = false;

  constructor(
    private readonly socket: Socket<State>,
    readonly remote: string,
    private readonly reclaimAfter: Reclaim,
  ) {
    // Bun's write is unbuffered: it returns how much the kernel took, which may be a part.
    this.queue = new WriteQueue((bytes) => socket.write(bytes));
  }
  write(bytes: Uint8Array): void {
    this.queue.write(bytes);
    this.reclaimAfter(bytes.length);
  }
  get queuedBytes(): number {
    return this.queue.bytes;
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
      // reusing this buffer (Bun 1.4.5 hands each read over in a fresh one: 140 reads of a
      // 64 MiB stream, 140 buffers).
      socket.data.events?.data(data);
      reclaimAfter(data.length);
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
    async listen(host, port, accept): Promise<Listener> {
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

    async connect(host, port, attach): Promise<Connection> {
      let made: BunConnection | undefined;
      const socket = await Bun.connect<State>({
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
      void socket;
      return made!;
    },
  };
}

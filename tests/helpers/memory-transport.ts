import type { Connection, ConnectionEvents } from "../../src/runtime/types.ts";

/** One end of an in-memory connection: `conn` to write on, `attach` to receive what the other end writes. */
export interface MemoryEnd {
  readonly conn: Connection;
  attach(events: ConnectionEvents): void;
}

export interface PairOptions {
  /** Deliver writes in pieces of at most this many bytes, as TCP may: frames must be reassembled. */
  chunk?: number;
}

class End implements MemoryEnd {
  other!: End;
  private events: ConnectionEvents | undefined;
  private readonly inbox: Uint8Array[] = [];
  private paused = false;
  private closed = false;
  /** The other end hung up: deliver what is in the inbox, then the close. */
  private finned = false;
  private scheduled = false;

  readonly conn: Connection;

  constructor(remote: string, chunk: number) {
    const end = this;
    this.conn = {
      remote,
      write(bytes) {
        if (end.closed) return;
        for (let at = 0; at < bytes.length; at += chunk) end.other.receive(bytes.slice(at, at + chunk));
      },
      queuedBytes: 0,
      drained: async () => {},
      pause() {
        end.paused = true;
      },
      resume() {
        end.paused = false;
        end.schedule();
      },
      close() {
        if (end.closed) return;
        end.closed = true;
        for (const e of [end, end.other]) {
          e.finned = true;
          e.schedule();
        }
      },
      get closed() {
        return end.closed;
      },
    };
  }

  attach(events: ConnectionEvents): void {
    this.events = events;
    this.schedule();
  }

  private receive(bytes: Uint8Array): void {
    this.inbox.push(bytes);
    this.schedule();
  }

  /** Deliveries happen later, never inside the writer's call: as with a socket. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    if (!this.events) return;
    while (!this.paused && this.inbox.length > 0 && !this.closed) this.events.data(this.inbox.shift()!);
    if (this.finned && (this.inbox.length === 0 || this.closed) && this.events) {
      const events = this.events;
      this.events = undefined;
      this.closed = true;
      events.close();
    }
  }
}

/** Two connected in-memory ends, `[client, server]`: no sockets, no processes. */
export function connectionPair(opts: PairOptions = {}): [MemoryEnd, MemoryEnd] {
  const chunk = opts.chunk ?? Number.POSITIVE_INFINITY;
  const a = new End("memory-server", chunk);
  const b = new End("memory-client", chunk);
  a.other = b;
  b.other = a;
  return [a, b];
}

import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import type { Socket, TCPSocketListener } from "bun";
import { createHash } from "node:crypto";
import { createIdentity } from "../../src/server/identity.ts";
import { controlFrame, FRAME_BLOCK, FrameSplitter, frame, type RawFrame, SendQueue } from "../helpers/wire-frames.ts";

/**
 * A dropsim server impostor for client tests: it parses the client's frames and lets each
 * test script what comes back — valid replies, lies, garbage, or a hang-up mid-frame.
 * Its framing (tests/helpers/wire-frames.ts) is written independently of src/.
 */
export interface FakeConn {
  readonly id: number;
  /** Every frame this connection sent, in order. */
  readonly received: RawFrame[];
  write(bytes: Uint8Array): void;
  send(message: Record<string, unknown>): void;
  sendBlock(hash: string, bytes: Uint8Array): void;
  close(): void;
  readonly closed: boolean;
}

export type Script = (conn: FakeConn, f: RawFrame) => void;

interface State {
  conn?: ConnImpl;
}

class ConnImpl implements FakeConn {
  readonly received: RawFrame[] = [];
  closed = false;
  private readonly splitter = new FrameSplitter();
  private readonly outbox = new SendQueue((bytes) => this.socket.write(bytes), () => this.closed);
  constructor(
    readonly id: number,
    private readonly socket: Socket<State>,
    private readonly script: Script,
  ) {}

  write(bytes: Uint8Array): void {
    this.outbox.write(bytes);
  }
  send(message: Record<string, unknown>): void {
    this.write(controlFrame(message));
  }
  sendBlock(hash: string, bytes: Uint8Array): void {
    const body = new Uint8Array(32 + bytes.length);
    body.set(Buffer.from(hash, "hex"));
    body.set(bytes, 32);
    this.write(frame(FRAME_BLOCK, body));
  }
  close(): void {
    if (!this.closed) this.socket.end();
    this.closed = true;
  }
  flush(): void {
    this.outbox.flush();
  }
  receive(data: Uint8Array): void {
    this.splitter.push(data);
    // The script may close the connection: frames after that are never seen by a real server either.
    while (!this.closed) {
      const f = this.splitter.next();
      if (!f) return;
      this.received.push(f);
      this.script(this, f);
    }
  }
}

/** One certificate for every impostor: clients pin whatever they are shown first. */
const IDENTITY = await createIdentity();

/** Speaks TLS, as real servers do by default; `{ tls: false }` for a client started with --insecure. */
export class FakeServer implements Disposable {
  readonly conns: ConnImpl[] = [];
  private listener: TCPSocketListener<State>;

  constructor(script: Script, opts: { tls?: boolean } = {}) {
    let next = 1;
    this.listener = Bun.listen<State>({
      hostname: "127.0.0.1",
      port: 0,
      tls: (opts.tls ?? true) ? { cert: IDENTITY.cert, key: IDENTITY.key } : undefined,
      socket: {
        binaryType: "uint8array",
        open: (socket) => {
          const conn = new ConnImpl(next++, socket, (c, f) => this.script(c, f));
          socket.data = { conn };
          this.conns.push(conn);
        },
        data: (socket, data) => socket.data.conn?.receive(data.slice()),
        drain: (socket) => socket.data.conn?.flush(),
        close: (socket) => {
          if (socket.data.conn) socket.data.conn.closed = true;
        },
        error: (socket) => {
          if (socket.data.conn) socket.data.conn.closed = true;
        },
      },
    });
    this.script = script;
  }

  script: Script;

  get port(): number {
    return this.listener.port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Every control message of `type` received on any connection. */
  messages(type: string): Record<string, unknown>[] {
    return this.conns.flatMap((c) => c.received.filter((f) => f.json?.type === type).map((f) => f.json!));
  }

  [Symbol.dispose](): void {
    for (const c of this.conns) c.close();
    this.listener.stop(true);
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function hashBlockList(hashes: string[]): string {
  const h = createHash("sha256");
  for (const x of hashes) h.update(Buffer.from(x, "hex"));
  return h.digest("hex");
}

/** A file entry as the server would send it, for `bytes` cut into blocks of `blockSize`. */
export function fileEntry(path: string, bytes: Uint8Array, version: number, blockSize = 64 * 1024): { entry: Record<string, unknown>; blocks: Map<string, Uint8Array> } {
  const blocks = new Map<string, Uint8Array>();
  const refs: [string, number][] = [];
  for (let off = 0; off < bytes.length; off += blockSize) {
    const b = bytes.subarray(off, Math.min(bytes.length, off + blockSize));
    const h = sha256Hex(b);
    blocks.set(h, b);
    refs.push([h, b.length]);
  }
  return {
    entry: { path, kind: "file", size: bytes.length, mode: 0o644, hash: hashBlockList(refs.map(([h]) => h)), blocks: refs, version, deleted: false, mtime: 0 },
    blocks,
  };
}

export function dirEntry(path: string, version: number): Record<string, unknown> {
  return { path, kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], version, deleted: false, mtime: 0 };
}

/** Answers hello with welcome (head `head`), and lets `rest` handle everything else. */
export function withHandshake(head: number, rest: Script): Script {
  return (conn, f) => {
    if (f.json?.type === "hello") {
      conn.send({ type: "welcome", id: f.json.id, protocol: PROTOCOL_VERSION, serverId: "fake-server", head, share: "default", scope: "read_write" });
      return;
    }
    rest(conn, f);
  };
}

/** What an honest server with these entries and blocks would answer; `lie` may take over any frame first. */
export function honest(state: { head: number; entries: Record<string, unknown>[]; blocks: Map<string, Uint8Array> }, lie?: (conn: FakeConn, f: RawFrame) => boolean): Script {
  return withHandshake(state.head, (conn, f) => {
    if (lie?.(conn, f)) return;
    const m = f.json;
    if (!m) return;
    switch (m.type) {
      case "changes": {
        const since = m.since as number;
        conn.send({ type: "changes_result", id: m.id, head: state.head, entries: state.entries.filter((e) => (e.version as number) > since), more: false });
        break;
      }
      case "get_blocks": {
        const missing: string[] = [];
        for (const h of m.hashes as string[]) {
          const b = state.blocks.get(h);
          if (b) conn.sendBlock(h, b);
          else missing.push(h);
        }
        conn.send({ type: "blocks_done", id: m.id, missing });
        break;
      }
      case "has_blocks":
        conn.send({ type: "missing", id: m.id, hashes: m.hashes });
        break;
      case "apply":
        conn.send({ type: "error", id: m.id, code: "io", message: "This fake server accepts nothing" });
        break;
    }
  });
}

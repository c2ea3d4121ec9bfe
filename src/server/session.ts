import { countWithin } from "../protocol/budget.ts";
import { hashBlock } from "../core/block-hash.ts";
import { compactEntry, type WireEntry } from "../core/block-splice.ts";
import type { Entry } from "../core/entry.ts";
import { DropsimError, describeError } from "../core/errors.ts";
import { type ClientMessage, clientMessages, type MessageOf, type OpResult, PROTOCOL_VERSION, type ServerMessage } from "../protocol/messages.ts";
import { blockFrame, Peer } from "../protocol/peer.ts";
import type { Connection, ConnectionEvents } from "../runtime/types.ts";
import type { BlockStore } from "../store/block-store.ts";
import type { MetaStore } from "../store/meta-store.ts";
import { applyOps } from "./commit.ts";
import type { Log } from "../core/log.ts";

export const DEFAULT_PAGE = 1000;
/** Unprocessed input beyond this pauses reading from the socket (TCP pushes back on the sender). */
const INBOUND_HIGH_WATER = 8 * 1024 * 1024;
/** Output we let pile up for a peer that does not read before we hang up on it. */
const OUTBOUND_LIMIT = 64 * 1024 * 1024;
const BLOCK_SEND_WINDOW = 4 * 1024 * 1024;
const REPLY_WINDOW = 4 * 1024 * 1024;
/**
 * A session that has received nothing for this long is closed: its client vanished without a
 * FIN or RST (asleep, moved to another network) and would otherwise be kept forever. Clients
 * ping after 10 s of quiet (protocol/peer.ts), so a live one is never near it.
 */
export const SESSION_IDLE_MS = 90_000;

export interface SessionHost {
  meta: MetaStore;
  blocks: BlockStore;
  log: Log;
  /** Called after a commit so every session hears of it. */
  published(from: number, head: number, entries: WireEntry[]): void;
  ended(session: Session): void;
}

type Work = { kind: "message"; message: ClientMessage; size: number } | { kind: "block"; hash: string; bytes: Uint8Array };

/** One client connection. Its frames are handled strictly in order, one at a time. */
export class Session {
  readonly peer: Peer<ClientMessage, ServerMessage>;
  readonly events: ConnectionEvents;
  clientId = "";
  private queue: Work[] = [];
  private queuedBytes = 0;
  private running = false;
  private paused = false;
  /** Why a block of the current upload could not be stored; said once, and again by `apply`. */
  private storeFailure: DropsimError | undefined;
  private readonly idleCheck: ReturnType<typeof setInterval>;

  constructor(
    private readonly conn: Connection,
    private readonly host: SessionHost,
    idleAfterMs = SESSION_IDLE_MS,
  ) {
    this.peer = new Peer(conn, clientMessages, {
      message: (message, size) => this.enqueue({ kind: "message", message, size }),
      block: (hash, bytes) => this.enqueue({ kind: "block", hash, bytes }),
      protocolError: (error, id) => this.reject(error, id),
      closed: () => {
        clearInterval(this.idleCheck);
        host.ended(this);
      },
    });
    this.events = this.peer.events;
    this.idleCheck = setInterval(() => {
      const silent = Date.now() - this.peer.heardAt;
      if (silent < idleAfterMs) return;
      host.log.info(`Closing session ${this.name}: nothing received for ${Math.round(silent / 1000)} s`);
      this.conn.close();
    }, idleAfterMs / 3);
    this.idleCheck.unref?.();
  }

  get name(): string {
    return this.clientId ? `${this.clientId.slice(0, 8)} (${this.conn.remote})` : this.conn.remote;
  }

  get ready(): boolean {
    return this.clientId !== "";
  }

  /** Writes bytes already framed (a push encoded once for every session). */
  sendRaw(frame: Uint8Array): void {
    if (this.conn.queuedBytes > OUTBOUND_LIMIT) {
      this.host.log.warn(`Closing session ${this.name}: it has not read ${this.conn.queuedBytes} bytes of pending output`);
      this.conn.close();
      return;
    }
    this.peer.sendFrame(frame);
  }

  private send(message: ServerMessage): void {
    this.peer.send(message);
  }

  private reject(error: DropsimError, id: number | undefined): void {
    this.host.log.warn(`Session ${this.name}: ${error.message}`);
    this.send({ type: "error", ...(id === undefined ? {} : { id }), code: error.code, message: error.message });
  }

  private enqueue(work: Work): void {
    const size = work.kind === "block" ? work.bytes.length : work.size;
    this.queue.push(work);
    this.queuedBytes += size;
    if (!this.paused && this.queuedBytes > INBOUND_HIGH_WATER) {
      this.paused = true;
      this.conn.pause();
    }
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.conn.closed) {
      // A peer that does not read its replies stops getting new ones; its requests then pile
      // up to the inbound limit and reading pauses. Memory stays bounded either way.
      await this.conn.drained(REPLY_WINDOW);
      if (this.conn.closed) break;
      const work = this.queue.shift()!;
      this.queuedBytes -= work.kind === "block" ? work.bytes.length : work.size;
      if (this.paused && this.queuedBytes < INBOUND_HIGH_WATER / 2) {
        this.paused = false;
        this.conn.resume();
      }
      try {
        if (work.kind === "block") await this.receiveBlock(work.hash, work.bytes);
        else await this.handle(work.message);
      } catch (e) {
        const error = e instanceof DropsimError ? e : new DropsimError("internal", describeError(e), { cause: e });
        if (error.code === "internal") this.host.log.error(`Session ${this.name}:`, e);
        this.reject(error, work.kind === "message" ? (work.message as { id?: number }).id : undefined);
      }
    }
    this.queue = [];
    this.running = false;
  }

  private async receiveBlock(hash: string, bytes: Uint8Array): Promise<void> {
    if (!this.ready) throw new DropsimError("not_ready", "Send hello before anything else");
    if (hashBlock(bytes) !== hash) {
      throw new DropsimError("bad_block", `Rejected block ${hash.slice(0, 12)}…: its bytes do not match its hash`);
    }
    try {
      await this.host.blocks.put(hash, bytes);
    } catch (e) {
      if (!(e instanceof DropsimError)) throw e;
      // A full disk refuses every block that follows: one error, not thousands. The apply
      // that needs them is refused with the same reason.
      if (this.storeFailure) return;
      this.storeFailure = e;
      throw e;
    }
  }

  private async handle(m: ClientMessage): Promise<void> {
    if (m.type === "hello") return this.hello(m);
    // Answered in turn, not ahead of the queue: a pong says this session still makes progress.
    if (m.type === "ping") return this.send({ type: "pong", id: m.id });
    if (!this.ready) throw new DropsimError("not_ready", "Send hello before anything else");
    switch (m.type) {
      case "changes":
        return this.changes(m);
      case "has_blocks":
        return this.hasBlocks(m);
      case "get_blocks":
        return this.getBlocks(m);
      case "apply":
        return this.apply(m);
      case "bye":
        this.conn.close();
        return;
    }
  }

  private hello(m: MessageOf<ClientMessage, "hello">): void {
    if (m.protocol !== PROTOCOL_VERSION) {
      throw new DropsimError(
        "protocol_mismatch",
        `This server speaks protocol ${PROTOCOL_VERSION}, the client speaks ${m.protocol}: upgrade the older side`,
      );
    }
    this.clientId = m.clientId;
    this.host.log.info(`Client ${this.name} connected${m.host ? ` from ${m.host}` : ""}`);
    this.send({ type: "welcome", id: m.id, protocol: PROTOCOL_VERSION, serverId: this.host.meta.serverId, head: this.host.meta.head() });
  }

  private changes(m: MessageOf<ClientMessage, "changes">): void {
    const limit = m.limit ?? DEFAULT_PAGE;
    const { meta } = this.host;
    const head = meta.head();
    const found = meta.changesSince(m.since, limit);
    // By size too: entries with big block lists or extended attributes must fit one frame.
    const entries = found.slice(0, countWithin(found));
    this.send({ type: "changes_result", id: m.id, head, entries, more: found.length === limit || entries.length < found.length });
  }

  private async hasBlocks(m: MessageOf<ClientMessage, "has_blocks">): Promise<void> {
    const have = await Promise.all(m.hashes.map((h) => this.host.blocks.has(h)));
    this.send({ type: "missing", id: m.id, hashes: m.hashes.filter((_, i) => !have[i]) });
  }

  private async getBlocks(m: MessageOf<ClientMessage, "get_blocks">): Promise<void> {
    const missing: string[] = [];
    for (const hash of m.hashes) {
      let frame: Uint8Array | undefined;
      const bytes = await this.host.blocks.get(hash, (size) => {
        const f = blockFrame(hash, size);
        frame = f.frame;
        return f.body;
      });
      if (!bytes) {
        missing.push(hash);
        continue;
      }
      this.peer.sendFrame(frame!);
      // Backpressure: never queue more than a window of block bytes for this peer.
      await this.conn.drained(BLOCK_SEND_WINDOW);
      if (this.conn.closed) return;
    }
    this.send({ type: "blocks_done", id: m.id, missing });
  }

  private async apply(m: MessageOf<ClientMessage, "apply">): Promise<void> {
    const { meta } = this.host;
    const wanted = new Set<string>();
    /** What each put replaces: the replies and pushes tell new block lists as splices of it. */
    const before = new Map<string, Entry | undefined>();
    for (const op of m.ops) {
      if (op.op !== "put" || op.kind !== "file") continue;
      for (const [h] of op.splice?.insert ?? op.blocks ?? []) wanted.add(h);
      if (!before.has(op.path)) before.set(op.path, meta.get(op.path));
    }
    const missing = new Set<string>();
    await Promise.all([...wanted].map(async (h) => (await this.host.blocks.has(h)) || missing.add(h)));
    // The journal may only refer to blocks whose bytes are on disk.
    await this.host.blocks.sync();
    const from = meta.head();
    const results = applyOps(meta, m.ops, missing, Date.now());
    const head = meta.head();
    const failure = this.storeFailure;
    this.storeFailure = undefined;
    const journal: WireEntry[] = [];
    const wire = results.map((r): OpResult => {
      // Blocks are missing because they could not be stored: say why, not just that they are.
      if (r.status === "error" && r.code === "missing_blocks" && failure) return { ...r, code: failure.code, message: `${r.message}: ${failure.message}` };
      if (r.status !== "ok") return r;
      const entries = r.entries.map((e) => {
        if (e.version <= from) return e; // unchanged (the same bytes sent twice)
        const w = compactEntry(e as Entry, before.get(e.path));
        before.set(e.path, e as Entry);
        journal.push(w);
        return w;
      });
      return { status: "ok", entries };
    });
    this.send({ type: "applied", id: m.id, head, results: wire });
    if (head > from) this.host.published(from, head, journal);
  }
}

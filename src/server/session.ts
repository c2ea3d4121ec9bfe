import { countWithin } from "../protocol/budget.ts";
import { hashBlock } from "../core/block-hash.ts";
import { compactEntry, type WireEntry } from "../core/block-splice.ts";
import type { Entry } from "../core/entry.ts";
import { DropsimError, describeError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import { type ClientMessage, clientMessages, type MessageOf, OLDEST_PROTOCOL, type OpResult, PROTOCOL_VERSION, type ServerMessage } from "../protocol/messages.ts";
import { blockFrames, Peer } from "../protocol/peer.ts";
import { release } from "../core/release.ts";
import type { Connection, ConnectionEvents } from "../runtime/types.ts";
import type { CommitNotice } from "../store/journal-feed.ts";
import type { Scope } from "../core/access-token.ts";
import type { AccessStore } from "../store/access-store.ts";
import { type Admission, ipOf } from "./admission.ts";
import { authenticate, type Grant } from "./authenticate.ts";
import { applyOps, type Commit, findMissingIn } from "./commit.ts";
import { readHistory, readTrash } from "./history.ts";
import { restore, summarize } from "./restore.ts";
import type { ServerMetrics } from "./server-metrics.ts";
import type { Share, ShareRegistry } from "./share-registry.ts";

export const DEFAULT_PAGE = 1000;
/** Unprocessed input beyond this pauses reading from the socket (TCP pushes back on the sender). */
const INBOUND_HIGH_WATER = 8 * 1024 * 1024;
/** Output we let pile up for a peer that does not read before we hang up on it. */
const OUTBOUND_LIMIT = 64 * 1024 * 1024;
/** The first protocol whose clients send `streaming` and are told `incoming`. */
const STREAMING_PROTOCOL = 3;
const BLOCK_SEND_WINDOW = 4 * 1024 * 1024;
/** Block bytes served with one read and one write (blocks lying end to end in a pack). */
const SERVE_RUN = 1024 * 1024;
const REPLY_WINDOW = 4 * 1024 * 1024;
/**
 * Output past which another client's `streaming` is not told to this one: it only lets the
 * client start early, and one that is behind on reading gets the commit anyway. It lies above
 * all a client that reads can have queued: its replies, and the blocks it is downloading. At
 * 4 MiB a client fetching the streamed file itself (a send window and a run: 5 MiB) missed a
 * notice, and a missed notice leaves a gap: its stream of the file ended there for good.
 */
const INCOMING_LIMIT = REPLY_WINDOW + BLOCK_SEND_WINDOW + SERVE_RUN;
/**
 * Received blocks are made durable after this many bytes (and when the session ends), so an
 * upload interrupted by a server restart resumes from there instead of from zero. The session
 * goes on receiving meanwhile: stopping for each datasync (~50 ms per 32 MiB while W2's three
 * processes write) made W2 over TLS 5 % slower (3.29–3.43 s against 3.07–3.20, alternating).
 */
export const DURABLE_EVERY = 32 * 1024 * 1024;
/**
 * A session that has received nothing for this long is closed: its client vanished without a
 * FIN or RST (asleep, moved to another network) and would otherwise be kept forever. Clients
 * ping after 10 s of quiet (protocol/peer.ts), so a live one is never near it.
 */
export const SESSION_IDLE_MS = 90_000;

export interface SessionHost {
  shares: ShareRegistry;
  access: AccessStore;
  admission: Admission;
  metrics: ServerMetrics;
  log: Log;
  /** A token opened a session: its "last used" is worth recording (at most once a minute). */
  used(tokenId: string, now: number): void;
  ended(session: Session): void;
}

/** Who a session acts for: a token of one share, and the client and machine it says it is (for logs). */
export interface Principal {
  tokenId: string;
  share: string;
  scope: Scope;
  expires: number | null;
  clientId: string;
  host: string | undefined;
}

interface Ready {
  kind: "ready";
  share: Share;
  principal: Principal;
  unsubscribe: () => void;
}

/**
 * greeting → ready (after hello) → closed; a closed session never becomes ready again. A closed
 * session keeps the principal it had, so its last words (log line, byte counts) are its own.
 */
export type SessionState = { kind: "greeting" } | Ready | { kind: "closed"; principal: Principal | undefined };

type Work = { kind: "message"; message: ClientMessage; size: number } | { kind: "block"; hash: string; bytes: Uint8Array };

/** One client connection. Its frames are handled strictly in order, one at a time. */
export class Session {
  readonly peer: Peer<ClientMessage, ServerMessage>;
  readonly events: ConnectionEvents;
  private current: SessionState = { kind: "greeting" };
  private queue: Work[] = [];
  private queuedBytes = 0;
  private running = false;
  private paused = false;
  /** Why a block of the current upload could not be stored; said once, and again by `apply`. */
  private storeFailure: DropsimError | undefined;
  /** Block bytes received since they were last made durable. */
  private unsynced = 0;
  /** The drain loop while it runs: what `stop` waits for, then `durable`. */
  private draining: Promise<void> = Promise.resolve();
  /** The last sync of received blocks: one running in the background, or the session's last. */
  private durable: Promise<void> = Promise.resolve();
  /** The server is stopping: no more work is taken from the queue. */
  private stopping = false;
  private readonly idleCheck: ReturnType<typeof setInterval>;
  private readonly authDeadline: ReturnType<typeof setTimeout>;
  private readonly unmeter: () => void;
  readonly ip: string;
  /** Counted by Admission as waiting to authenticate: until hello succeeds or the connection ends. */
  private pending = false;
  /** Counted by Admission as open (it was not refused at once): until the connection ends. */
  private admitted = false;
  private preAuthBytes = 0;
  /** Refused and closing: nothing more is read, answered or served. */
  private refused = false;

  constructor(
    private readonly conn: Connection,
    private readonly host: SessionHost,
    idleAfterMs = SESSION_IDLE_MS,
  ) {
    this.peer = new Peer(conn, clientMessages, {
      message: (message, size) => this.enqueue({ kind: "message", message, size }),
      block: (hash, bytes) => this.enqueue({ kind: "block", hash, bytes }),
      protocolError: (error, id) => this.reject(error, id),
      closed: () => this.end(),
    });
    const inner = this.peer.events;
    const limits = host.admission.limits;
    this.events = {
      data: (bytes) => {
        if (this.refused) return;
        if (this.current.kind === "greeting" && (this.preAuthBytes += bytes.length) > limits.preAuthBytes) {
          return this.refuse(new DropsimError("bad_message", `Received more than ${limits.preAuthBytes} bytes before authentication`), undefined, "pre_auth_bytes");
        }
        inner.data(bytes);
      },
      close: (error) => inner.close(error),
    };
    this.ip = ipOf(conn.remote);
    this.unmeter = host.metrics.sessionOpened(() => ({ clientId: this.principal?.clientId, bytesIn: this.peer.bytesIn, bytesOut: this.peer.bytesOut }));
    this.idleCheck = setInterval(() => {
      const silent = Date.now() - this.peer.heardAt;
      if (silent < idleAfterMs) return;
      host.log.info(`Closing session ${this.name}: nothing received for ${Math.round(silent / 1000)} s`);
      this.conn.close();
    }, idleAfterMs / 3);
    this.idleCheck.unref?.();
    this.authDeadline = setTimeout(() => {
      if (this.current.kind === "greeting") this.refuse(new DropsimError("timeout", `Did not authenticate within ${limits.authTimeoutMs / 1000} s`), undefined);
    }, limits.authTimeoutMs);
    this.authDeadline.unref?.();
    const full = host.admission.full;
    const busy = host.admission.open(this.ip);
    if (busy) this.refuse(busy, undefined, full ? "open_files" : busy.code);
    else this.pending = this.admitted = true;
  }

  get state(): SessionState["kind"] {
    return this.current.kind;
  }

  get principal(): Principal | undefined {
    return this.current.kind === "greeting" ? undefined : this.current.principal;
  }

  get name(): string {
    const clientId = this.principal?.clientId;
    return clientId ? `${clientId.slice(0, 8)} (${this.conn.remote})` : this.conn.remote;
  }

  /**
   * For a server that stops: the work in hand finishes, queued work is dropped (the client sends
   * it again), the connection closes, and the blocks received so far are made durable before
   * this resolves, so the stores can close after it and a resumed upload finds them.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.draining;
    this.peer.close();
    this.end();
    await this.durable;
  }

  private end(): void {
    if (this.current.kind === "closed") return;
    clearInterval(this.idleCheck);
    clearTimeout(this.authDeadline);
    this._settle();
    if (this.admitted) this.host.admission.closed();
    if (this.current.kind === "ready") {
      this.current.unsubscribe();
      const { share } = this.current;
      if (this.unsynced > 0) this.durable = this.syncBlocks(share).catch((e) => this.notDurable(e));
    }
    this.current = { kind: "closed", principal: this.principal };
    this.unmeter();
    this.host.ended(this);
  }

  /** Writes a push, encoded once for every session of the share. */
  private push(share: Share, notice: CommitNotice): void {
    if (this.conn.queuedBytes > OUTBOUND_LIMIT) {
      this.host.log.warn(`Closing session ${this.name}: it has not read ${this.conn.queuedBytes} bytes of pending output`);
      this.conn.close();
      return;
    }
    const push = share.pushOf(notice);
    this.peer.sendFrame(push.frame);
    this.host.metrics.pushed(share, (performance.now() - push.since) / 1000);
  }

  /** Another session's streaming file, unless this client is behind on reading (see INCOMING_LIMIT). */
  private tellIncoming(frame: Uint8Array): void {
    if (this.conn.queuedBytes <= INCOMING_LIMIT) this.peer.sendFrame(frame);
  }

  /**
   * Tells the share's other clients of blocks of a file still being uploaded, once this
   * session's blocks before the message are stored (frames are handled in order). Blocks the
   * store does not hold (a put that failed) are not told: a client asking for them would fail
   * its other downloads too.
   */
  private async streaming(s: Ready, m: MessageOf<ClientMessage, "streaming">): Promise<void> {
    const sizes = await s.share.blocks.sizes(m.blocks.map(([h]) => h));
    if (sizes.some((size, i) => size !== m.blocks[i]![1])) return;
    s.share.announce(this, { type: "incoming", path: m.path, size: m.size, from: m.from, blocks: m.blocks });
  }

  private send(message: ServerMessage): void {
    this.peer.send(message);
  }

  private _settle(): void {
    if (this.pending) this.host.admission.settled(this.ip);
    this.pending = false;
  }

  /**
   * Ends the session over who it is or how it behaved: one log line with the remote address and
   * why, counted by reason, the error told, and the connection closed once it is on its way.
   */
  refuse(error: DropsimError, id: number | undefined, reason: string = error.code): void {
    if (this.refused || this.current.kind === "closed") return;
    this.refused = true;
    this.queue = [];
    this._settle();
    this.host.log.warn(`Refused ${this.conn.remote}${this.principal ? ` (${this.name}, token ${this.principal.tokenId})` : ""}: ${error.message}`);
    this.host.metrics.authRefused(reason);
    this.send({ type: "error", ...(id === undefined ? {} : { id }), code: error.code, message: error.message });
    // A peer that does not read gets at most a second for the error to leave.
    const flushed = this.conn.drained(0);
    void Promise.race([flushed, new Promise((r) => setTimeout(r, 1000).unref?.())]).then(() => this.conn.close());
  }

  private reject(error: DropsimError, id: number | undefined): void {
    this.host.log.warn(`Session ${this.name}: ${error.message}`);
    this.host.metrics.errorTold(error.code);
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
    if (!this.running) this.draining = this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.conn.closed && !this.refused && !this.stopping) {
      // A peer that does not read its replies stops getting new ones; its requests then pile
      // up to the inbound limit and reading pauses. Memory stays bounded either way.
      await this.conn.drained(REPLY_WINDOW);
      if (this.conn.closed || this.refused || this.stopping) break;
      const work = this.queue.shift()!;
      this.queuedBytes -= work.kind === "block" ? work.bytes.length : work.size;
      if (this.paused && this.queuedBytes < INBOUND_HIGH_WATER / 2) {
        this.paused = false;
        this.conn.resume();
      }
      try {
        await this.dispatch(work);
      } catch (e) {
        const error = e instanceof DropsimError ? e : new DropsimError("internal", describeError(e), { cause: e });
        if (error.code === "internal") this.host.log.error(`Session ${this.name}:`, e);
        this.reject(error, work.kind === "message" ? (work.message as { id?: number }).id : undefined);
      }
    }
    this.queue = [];
    this.running = false;
  }

  /** The one place that checks the state: before hello only hello and ping are answered. */
  private async dispatch(work: Work): Promise<void> {
    const state = this.current;
    if (state.kind === "closed" || this.refused) return;
    if (work.kind === "message") {
      const m = work.message;
      if (m.type === "hello") return state.kind === "greeting" ? this.hello(m) : this.helloAgain();
      // Answered in turn, not ahead of the queue: a pong says this session still makes progress.
      if (m.type === "ping") return this.send({ type: "pong", id: m.id });
    }
    if (state.kind !== "ready") throw new DropsimError("not_ready", "Send hello before anything else");
    const writes =
      work.kind === "block" || work.message.type === "apply" || work.message.type === "streaming" || (work.message.type === "restore" && !work.message.dryRun);
    if (writes && state.principal.scope === "read_only") {
      throw new DropsimError("read_only", `Cannot change share "${state.share.name}": token ${state.principal.tokenId} is read-only`);
    }
    if (work.kind === "block") return this.receiveBlock(state, work.hash, work.bytes);
    const m = work.message;
    switch (m.type) {
      case "changes":
        return this.changes(state, m);
      case "has_blocks":
        return this.hasBlocks(state, m);
      case "get_blocks":
        return this.getBlocks(state, m);
      case "apply":
        return this.apply(state, m);
      case "history":
        return this.send({ type: "history_result", id: m.id, ...(await readHistory(state.share.meta, m)) });
      case "trash":
        return this.send({ type: "trash_result", id: m.id, ...(await readTrash(state.share.meta, m)) });
      case "restore":
        return this.restore(state, m);
      case "streaming":
        return this.streaming(state, m);
      case "bye":
        this.conn.close();
        return;
    }
  }

  private async receiveBlock(s: Ready, hash: string, bytes: Uint8Array): Promise<void> {
    if (hashBlock(bytes) !== hash) {
      throw new DropsimError("bad_block", `Rejected block ${hash.slice(0, 12)}…: its bytes do not match its hash`);
    }
    const size = bytes.length;
    try {
      await s.share.blocks.put(hash, bytes);
      // Copied by the store: the frame's own buffer (the decoder makes one per frame) is done with.
      release(bytes.buffer);
      this.host.metrics.blockStored(s.share, size);
      if ((this.unsynced += size) >= DURABLE_EVERY) {
        // One datasync at a time, each while the next blocks arrive: a slow disk slows the upload
        // down instead of queueing datasyncs behind each other.
        await this.durable;
        this.durable = this.syncBlocks(s.share).catch((e) => this.notDurable(e));
      }
    } catch (e) {
      if (!(e instanceof DropsimError)) throw e;
      // A full disk refuses every block that follows: one error, not thousands. The apply
      // that needs them is refused with the same reason.
      if (this.storeFailure) return;
      this.storeFailure = e;
      throw e;
    }
  }

  private async hello(m: MessageOf<ClientMessage, "hello">): Promise<void> {
    if (m.protocol < OLDEST_PROTOCOL || m.protocol > PROTOCOL_VERSION) {
      throw new DropsimError(
        "protocol_mismatch",
        `This server speaks protocols ${OLDEST_PROTOCOL} to ${PROTOCOL_VERSION}, the client speaks ${m.protocol}: upgrade the older side`,
      );
    }
    const now = Date.now();
    const held = this.host.admission.held(this.ip, now);
    if (held) return this.refuse(held, m.id);
    let grant: Grant;
    try {
      grant = authenticate(this.host.access, m, now);
    } catch (e) {
      if (!(e instanceof DropsimError)) throw e;
      this.host.admission.failed(this.ip, now);
      return this.refuse(e, m.id);
    }
    const share = this.host.shares.get(grant.share) ?? (await this.host.shares.open(grant.share));
    if (m.host) await share.meta.noteClient(m.clientId, m.host);
    const head = await share.meta.head();
    if (this.current.kind === "closed" || this.refused) return;
    this._settle();
    this.host.used(grant.tokenId, now);
    const principal: Principal = { ...grant, clientId: m.clientId, host: m.host };
    // The protocol this session speaks: the client's, which may be older than ours.
    this.send({ type: "welcome", id: m.id, protocol: m.protocol, serverId: share.meta.serverId, head, share: share.name, scope: grant.scope });
    // After the welcome, in the same turn: no commit can slip between the head told and the
    // subscription, and no push can overtake the welcome.
    const unsubscribeCommits = share.subscribe(head, (notice) => this.push(share, notice));
    const unsubscribeStreams = m.protocol >= STREAMING_PROTOCOL ? share.listenStreaming(this, (frame) => this.tellIncoming(frame)) : () => {};
    const unsubscribe = () => {
      unsubscribeCommits();
      unsubscribeStreams();
    };
    this.current = { kind: "ready", share, principal, unsubscribe };
    this.host.log.info(`Client ${this.name} connected${m.host ? ` from ${m.host}` : ""} to share "${share.name}" with token ${grant.tokenId} (${grant.scope})`);
  }

  /** Who a session acts for is settled once: a second hello could otherwise change it. */
  private helloAgain(): never {
    throw new DropsimError("bad_message", "Cannot say hello twice on one connection");
  }

  private async changes(s: Ready, m: MessageOf<ClientMessage, "changes">): Promise<void> {
    const pruned = await s.share.meta.prunedThrough();
    // A cursor inside what retention removed would miss those rows; 0 asks for the full listing.
    if (m.since > 0 && m.since < pruned) {
      throw new DropsimError(
        "cursor_expired",
        `This folder's cursor (change ${m.since}) is older than the share's retained history (changes up to ${pruned} were removed): resyncing from the current tree`,
      );
    }
    const limit = m.limit ?? DEFAULT_PAGE;
    // The head first: entries committed after it may come along (the client takes the later of
    // the two), but a head past the entries listed would make the client skip a commit.
    const head = await s.share.meta.head();
    const found = await s.share.meta.changesSince(m.since, limit);
    // By size too: entries with big block lists or extended attributes must fit one frame.
    const entries = found.slice(0, countWithin(found));
    this.send({ type: "changes_result", id: m.id, head, entries, more: found.length === limit || entries.length < found.length });
  }

  private async hasBlocks(s: Ready, m: MessageOf<ClientMessage, "has_blocks">): Promise<void> {
    const missing = await s.share.blocks.missing(m.hashes);
    this.host.metrics.blocksOffered(s.share, new Set(m.hashes).size, new Set(missing).size);
    this.send({ type: "missing", id: m.id, hashes: missing });
  }

  /** Blocks lying end to end in a pack go out as one read and one write, up to SERVE_RUN bytes at a time. */
  private async getBlocks(s: Ready, m: MessageOf<ClientMessage, "get_blocks">): Promise<void> {
    const missing: string[] = [];
    const sizes = await s.share.blocks.sizes(m.hashes);
    for (let i = 0; i < m.hashes.length; ) {
      const run: [string, number][] = [];
      let bytes = 0;
      for (; i < m.hashes.length && (run.length === 0 || bytes + (sizes[i] ?? 0) <= SERVE_RUN); i++) {
        const size = sizes[i];
        if (size === undefined) missing.push(m.hashes[i]!);
        else {
          run.push([m.hashes[i]!, size]);
          bytes += size;
        }
      }
      if (run.length === 0) continue;
      const frames = blockFrames(run);
      const read = await s.share.blocks.readInto(
        run.map(([h]) => h),
        frames.bodies,
      );
      if (read.every(Boolean)) this.peer.sendFrame(frames.bytes, true);
      else {
        // Deleted by garbage collection since `sizes`: the others go, frame by frame.
        read.forEach((ok, k) => (ok ? this.peer.sendFrame(frames.frames[k]!) : missing.push(run[k]![0])));
      }
      // Backpressure: never queue more than a window of block bytes for this peer.
      await this.conn.drained(BLOCK_SEND_WINDOW);
      if (this.conn.closed) return;
    }
    this.send({ type: "blocks_done", id: m.id, missing });
  }

  private async apply(s: Ready, m: MessageOf<ClientMessage, "apply">): Promise<void> {
    const started = performance.now();
    const { share } = s;
    // The slow part outside the share's one-at-a-time transactions; the check in it is then quick.
    // The background datasync first: if it failed, its blocks are missing and it says why.
    await this.durable;
    await this.syncBlocks(share);
    const commit = await applyOps(share.meta, m.ops, findMissingIn(share.blocks), { clientId: s.principal.clientId, at: Date.now() }, this.quotaOf(share));
    const failure = this.storeFailure;
    this.storeFailure = undefined;
    const { results, journal } = tellCommit(commit, failure);
    this.send({ type: "applied", id: m.id, head: commit.head, results });
    const changed = publishCommit(share, commit, journal);
    this.host.metrics.applied(share, m.ops, results, changed, (performance.now() - started) / 1000);
  }

  private async restore(s: Ready, m: MessageOf<ClientMessage, "restore">): Promise<void> {
    const { share, principal } = s;
    const outcome = await restore(share.meta, share.blocks, m, principal, Date.now(), this.quotaOf(share));
    this.send({ type: "restore_result", id: m.id, head: outcome.head, target: outcome.target, ...summarize(outcome.steps) });
    if (outcome.commit) publishCommit(share, outcome.commit, tellCommit(outcome.commit, undefined).journal);
    this.host.log.info(`Client ${this.name} ${m.dryRun ? "previewed a restore of" : "restored"} ${m.path === "" ? "the share" : `"${m.path}"`} to change ${outcome.target}: ${outcome.steps.length} change(s)`);
  }

  private quotaOf(share: Share): number | null {
    return this.host.access.share(share.name)?.quota ?? null;
  }

  /**
   * A datasync in the background failed. The store forgot the blocks it could not make
   * durable, so the commit that needs them is refused as missing (the client sends them
   * again); it is told this reason.
   */
  private notDurable(e: unknown): void {
    const error = e instanceof DropsimError ? e : new DropsimError("io", describeError(e), { cause: e });
    this.host.log.warn(`Session ${this.name}: could not make its received blocks durable: ${error.message}`);
    this.storeFailure ??= error;
  }

  /** Makes the blocks received so far durable (the journal may only refer to blocks on disk). */
  private async syncBlocks(share: Share): Promise<void> {
    this.unsynced = 0;
    await share.blocks.sync();
  }
}

/** Pushes a commit's rows (`journal` of tellCommit) to every session of the share; false when it changed nothing. */
function publishCommit(share: Share, commit: Commit, journal: WireEntry[]): boolean {
  if (commit.head <= commit.from) return false;
  const notice: CommitNotice = { from: commit.from, head: commit.head, entries: journal };
  share.pushOf(notice); // fan-out latency counts from here
  share.publish(notice);
  return true;
}

/**
 * A commit as the committer's reply and the push tell it: each new entry's block list as a
 * splice of what the path held where shorter, and `journal` the rows (from, head] in order.
 * `failure` is why blocks could not be stored, to tell instead of only that they are missing.
 */
function tellCommit(commit: Commit, failure: DropsimError | undefined): { results: OpResult[]; journal: WireEntry[] } {
  const before = new Map(commit.replaced);
  const journal: WireEntry[] = [];
  const results = commit.results.map((r): OpResult => {
    if (r.status === "error" && r.code === "missing_blocks" && failure) return { ...r, code: failure.code, message: `${r.message}: ${failure.message}` };
    if (r.status !== "ok") return r;
    const entries = r.entries.map((e) => {
      if (e.version <= commit.from) return e; // unchanged (the same bytes sent twice)
      const w = compactEntry(e as Entry, before.get(e.path));
      before.set(e.path, e as Entry);
      journal.push(w);
      return w;
    });
    return { status: "ok", entries };
  });
  return { results, journal };
}

import { DropsimError, describeError, type ErrorCode } from "../core/errors.ts";
import { looksLikeDropsim, notDropsim } from "../core/not-dropsim.ts";
import { type ClientMessage, type MessageOf, PROTOCOL_VERSION, type ServerMessage, serverMessages } from "../protocol/messages.ts";
import { DEFAULT_HEARTBEAT, type HeartbeatTimes, Peer } from "../protocol/peer.ts";
import type { Connection, Runtime } from "../runtime/types.ts";
import type { Emit } from "./events.ts";
import { formatAddress } from "./credentials.ts";
import { connectFailure, OfflineClock, REMIND_EVERY_MS, troubleReason } from "./link-trouble.ts";

export type ServerPeer = Peer<ServerMessage, ClientMessage>;
export type Changed = MessageOf<ServerMessage, "changed">;
export type Welcome = MessageOf<ServerMessage, "welcome">;
export type Incoming = MessageOf<ServerMessage, "incoming">;

export interface LinkHandlers {
  /** `fingerprint`: the certificate the server showed, now pinned if nothing was (undefined over plain TCP). */
  connected(peer: ServerPeer, welcome: Welcome, fingerprint: string | undefined): void;
  changed(message: Changed): void;
  /** Blocks of a file another client is still uploading (protocol 3): a hint, ignored by a link without it. */
  incoming?(peer: ServerPeer, message: Incoming): void;
  block(hash: string, bytes: Uint8Array): void;
  disconnected(error: Error): void;
  /** Trying again cannot help (a refused token, another server identity): the link has stopped for good. */
  gaveUp(error: DropsimError, presented: string | undefined): void;
}

/** Who we are to the server and who it must be to us. */
export interface LinkIdentity {
  clientId: string;
  host: string;
  share?: string;
  token?: string;
  /** TLS 1.3, the server's certificate checked against the pin; false only for plain TCP to loopback (--insecure). */
  tls: boolean;
  /** The certificate to insist on; undefined: trust the first one shown (and pin it from then on). */
  fingerprint?: string;
}

/**
 * Refusals that say this folder's credentials or the server's identity are wrong, or that we
 * cannot speak to it: the same hello would be refused again, so the client stops and says why.
 */
const FINAL: ReadonlySet<string> = new Set<ErrorCode>([
  "no_token",
  "unknown_token",
  "revoked",
  "expired",
  "wrong_share",
  "fingerprint_mismatch",
  "tls_required",
  "protocol_mismatch",
]);

export function isFinal(e: unknown): e is DropsimError {
  return e instanceof DropsimError && FINAL.has(e.code);
}

export const BACKOFF_MIN_MS = 250;
export const BACKOFF_MAX_MS = 15_000;
/**
 * Reconnecting never waits longer than this, so that sync resumes within 5 s of the network
 * coming back (issue 9, item 19). A refused or unreachable connect costs next to nothing.
 */
export const RECONNECT_MAX_MS = 4_000;
/**
 * The whole handshake (connect, TLS, hello, welcome) must be done by then: until it is, there is
 * no connection for the heartbeat to watch, and a peer that accepts and says nothing (the wrong
 * port, a stuck server) would hold the client silent for ever.
 */
export const HANDSHAKE_DEADLINE_MS = 10_000;

/** How long the link waits, and how often it speaks; tests shorten them. */
export interface LinkTimes {
  heartbeat: HeartbeatTimes;
  handshakeMs: number;
  remindEveryMs: number;
}

const DEFAULT_TIMES: LinkTimes = { heartbeat: DEFAULT_HEARTBEAT, handshakeMs: HANDSHAKE_DEADLINE_MS, remindEveryMs: REMIND_EVERY_MS };

/** Heartbeat checks per ping interval: how late a ping or a verdict can be, as a share of it. */
const HEARTBEAT_CHECKS = 5;

/** Exponential backoff with jitter: spreads reconnecting clients so a restarted server is not stampeded. */
export function backoffDelay(attempt: number, maxMs = BACKOFF_MAX_MS, random = Math.random): number {
  const ceiling = Math.min(maxMs, BACKOFF_MIN_MS * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Keeps one connection to the server alive: connect, hello, and reconnect when it drops. */
export class ServerLink {
  private peer: ServerPeer | undefined;
  private stopped = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wasConnected = false;
  /** A final refusal the server sent on its own (a token revoked mid-session): said when the connection closes. */
  private refusal: DropsimError | undefined;
  private pinned: string | undefined;
  private readonly times: LinkTimes;
  private readonly offline: OfflineClock;

  constructor(
    private readonly runtime: Runtime,
    private readonly address: { host: string; port: number },
    private readonly hello: LinkIdentity,
    private readonly emit: Emit,
    private readonly handlers: LinkHandlers,
    times: Partial<LinkTimes> = {},
  ) {
    this.pinned = hello.fingerprint;
    this.times = {
      heartbeat: times.heartbeat ?? DEFAULT_TIMES.heartbeat,
      handshakeMs: times.handshakeMs ?? DEFAULT_TIMES.handshakeMs,
      remindEveryMs: times.remindEveryMs ?? DEFAULT_TIMES.remindEveryMs,
    };
    this.offline = new OfflineClock(this.times.remindEveryMs);
  }

  get current(): ServerPeer | undefined {
    return this.peer;
  }

  start(): void {
    void this.connect();
  }

  /** Stops for good and tells the client why; once. */
  giveUp(error: DropsimError, presented?: string): void {
    if (this.stopped) return;
    this.stop();
    this.handlers.gaveUp(error, presented);
  }

  /** Says bye and hangs up at once: requests in flight (a big download's) fail now, not after the server's FIN. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.peer && !this.peer.isClosed) {
      this.peer.send({ type: "bye" });
      this.peer.abandon(new DropsimError("closed", "The client is stopping"));
    }
  }

  private get label(): string {
    return formatAddress(this.address);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let presented: string | undefined;
    this.refusal = undefined;
    try {
      const { peer, welcome } = await openSession(
        this.runtime,
        this.address,
        { ...this.hello, fingerprint: this.pinned },
        (conn) => {
          const p: ServerPeer = new Peer(conn, serverMessages, {
            message: (m) => {
              if (m.type === "changed") this.handlers.changed(m);
              else if (m.type === "incoming") this.handlers.incoming?.(p, m);
              else if (m.type === "error" && FINAL.has(m.code)) this.refusal = new DropsimError(m.code as ErrorCode, m.message);
              else if (m.type === "error") this.emit({ type: "server_said", message: m.message });
            },
            block: (hash, bytes) => this.handlers.block(hash, bytes),
            // Before the welcome, the failed hello says it (a peer that is not a dropsim server, named).
            protocolError: (e) => {
              if (this.peer === p) this.emit({ type: "server_invalid", reason: e.message });
            },
            closed: (error) => {
              clearInterval(checks);
              this.lost(p, error ?? new DropsimError("closed", "Connection closed"));
            },
          });
          const checks = this.keepAlive(p);
          return p;
        },
        (fingerprint) => (presented = fingerprint),
        this.times.handshakeMs,
      );
      if (this.stopped) return peer.close();
      this.attempt = 0;
      this.peer = peer;
      this.pinned ??= presented;
      const offlineForMs = this.offline.online(Date.now());
      this.emit({ type: "connected", server: this.label, serverId: welcome.serverId, head: welcome.head, reconnected: this.wasConnected, offlineForMs });
      this.wasConnected = true;
      this.handlers.connected(peer, welcome, presented);
    } catch (e) {
      // A refusal sent on its own (a TLS-only server's to plaintext) fails the hello as a hang-up.
      const final = isFinal(e) ? e : this.refusal;
      if (final) return this.giveUp(final, presented);
      this.failed(e);
    }
  }

  /**
   * Pings a quiet server and abandons a silent one (see protocol/peer.ts `heartbeatStep`). From
   * the first byte on: a hello can be swallowed by a dead network as well as any request.
   */
  private keepAlive(peer: ServerPeer): ReturnType<typeof setInterval> {
    const checks = setInterval(() => {
      const now = Date.now();
      if (!peer.heartbeat(now, this.times.heartbeat, { type: "ping" })) return;
      const silent = ((now - peer.heardAt) / 1000).toFixed(1);
      peer.abandon(new DropsimError("closed", `No answer from the server for ${silent} s: the connection is dead`));
    }, this.times.heartbeat.pingAfterMs / HEARTBEAT_CHECKS);
    checks.unref?.();
    return checks;
  }

  private lost(peer: ServerPeer, error: Error): void {
    if (this.peer !== peer) return;
    this.peer = undefined;
    this.handlers.disconnected(error);
    if (this.stopped) return;
    if (this.refusal) return this.giveUp(this.refusal);
    // The one warning of this disconnect: the attempts that follow are debug lines, then reminders.
    this.offline.dropped(Date.now());
    this.emit({ type: "disconnected", server: this.label, reason: troubleReason(this.address.host, error) });
    this.retryIn(backoffDelay(this.attempt++, RECONNECT_MAX_MS));
  }

  private failed(error: unknown): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++, RECONNECT_MAX_MS);
    const notice = this.offline.failed(Date.now());
    const code = error instanceof DropsimError ? error.code : undefined;
    this.emit({
      type: "unreachable",
      server: this.label,
      reason: describeError(error),
      code,
      retryInMs: delay,
      retryEveryMs: RECONNECT_MAX_MS,
      firstAttempt: notice.say === "warning",
      offlineForMs: notice.say === "reminder" ? notice.offlineForMs : undefined,
    });
    this.retryIn(delay);
  }

  private retryIn(delay: number): void {
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}

/**
 * Connects, checks the server's certificate against `identity.fingerprint` (if any) BEFORE
 * anything is sent, so the token goes to no one but the server the folder trusts, and says
 * hello. `makePeer` attaches the caller's handlers; `presented` hears the certificate shown,
 * even when the check then fails. The peer is closed if anything fails, and all of it must be
 * done within `deadlineMs`. What fails is said as one sentence naming the server: unreachable
 * (by errno), a peer that is not a dropsim server (what it sent), or silent (timeout).
 */
export async function openSession(
  runtime: Runtime,
  address: { host: string; port: number },
  identity: LinkIdentity,
  makePeer: (conn: Connection) => ServerPeer,
  presented: (fingerprint: string | undefined) => void = () => {},
  deadlineMs = HANDSHAKE_DEADLINE_MS,
): Promise<{ peer: ServerPeer; welcome: Welcome }> {
  const label = formatAddress(address);
  let peer: ServerPeer | undefined;
  let conn: Connection | undefined;
  let expired = false;
  const handshake = async () => {
    conn = await runtime.tcp.connect(address.host, address.port, (c) => (peer = makePeer(c)).events, identity.tls);
    // A connection made after the deadline is nobody's: closed in the catch below.
    if (expired) throw new DropsimError("timeout", "handshake abandoned");
    presented(conn.peerFingerprint);
    _checkIdentity(address, identity, conn.peerFingerprint);
    const welcome = await peer!.request<Welcome>({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      clientId: identity.clientId,
      host: identity.host,
      share: identity.share,
      token: identity.token,
    });
    return { peer: peer!, welcome };
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(_silent(label, conn, deadlineMs));
    }, deadlineMs);
  });
  const attempt = handshake();
  // After the deadline, the attempt still ends (refused, or abandoned): its peer is closed then.
  attempt.catch(() => peer?.close());
  try {
    return await Promise.race([attempt, deadline]);
  } catch (e) {
    peer?.close();
    throw _named(label, address, conn, e);
  } finally {
    clearTimeout(timer);
  }
}

/** What failed, as one sentence: a peer whose first bytes are not our framing is named for what it sent. */
function _named(label: string, address: { host: string; port: number }, conn: Connection | undefined, e: unknown): unknown {
  const sent = conn?.firstBytes;
  if (sent && !looksLikeDropsim(sent) && !isFinal(e)) return notDropsim(label, sent);
  return connectFailure(address, e);
}

function _silent(label: string, conn: Connection | undefined, deadlineMs: number): DropsimError {
  const sent = conn?.firstBytes;
  if (sent && !looksLikeDropsim(sent)) return notDropsim(label, sent);
  const seconds = `${deadlineMs / 1000} s`;
  if (conn) return new DropsimError("timeout", `${label} accepted the connection but did not answer within ${seconds} (is it a dropsim server?)`);
  return new DropsimError("timeout", `${label} did not answer within ${seconds} (is it a dropsim server, and is the address right?)`);
}

/** Throws unless the certificate the server showed is the one pinned (nothing to check over plain TCP, or before a pin). */
function _checkIdentity(address: { host: string; port: number }, identity: LinkIdentity, presented: string | undefined): void {
  const label = formatAddress(address);
  if (identity.tls && presented === undefined) throw new DropsimError("tls", `The TLS connection to ${label} shows no certificate to check`);
  if (presented === undefined || identity.fingerprint === undefined || presented === identity.fingerprint) return;
  throw new DropsimError("fingerprint_mismatch", `The server at ${label} presented certificate ${presented}, not ${identity.fingerprint} that this folder trusts`);
}

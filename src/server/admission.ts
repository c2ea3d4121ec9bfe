import { DropsimError } from "../core/errors.ts";

/**
 * Who may try to authenticate, and how fast: connections that have not authenticated yet are
 * bounded per IP and in total, and an IP whose attempts failed waits longer after each failure
 * before it may try again (200 ms doubling up to 25 s, forgotten 12 h after its last failure).
 * All connections together are bounded below the process's open-file limit, so that the
 * listener never meets EMFILE (Bun's then spins on the backlog and says nothing): one more is
 * told `busy` instead. Pure bookkeeping with the clock passed in: the session enforces what it
 * answers.
 */
export interface AdmissionLimits {
  maxPendingPerIp: number;
  maxPending: number;
  /** Connections open at once, authenticated or not (Infinity: no bound). */
  maxConnections: number;
  /** A connection still unauthenticated this long after it opened is closed. */
  authTimeoutMs: number;
  /** Bytes a connection may send before it has authenticated. */
  preAuthBytes: number;
  backoffFirstMs: number;
  backoffMaxMs: number;
  backoffForgetMs: number;
}

export const DEFAULT_LIMITS: AdmissionLimits = {
  maxPendingPerIp: 16,
  maxPending: 256,
  maxConnections: Number.POSITIVE_INFINITY,
  authTimeoutMs: 10_000,
  preAuthBytes: 16 * 1024,
  backoffFirstMs: 200,
  backoffMaxMs: 25_000,
  backoffForgetMs: 12 * 3_600_000,
};

interface Failures {
  count: number;
  last: number;
}

export class Admission {
  private readonly pendingByIp = new Map<string, number>();
  private pending = 0;
  private connections = 0;
  private readonly failures = new Map<string, Failures>();

  constructor(readonly limits: AdmissionLimits = DEFAULT_LIMITS) {}

  /** Counts a new connection as open and pending, or says why it is refused (then it is not counted). */
  open(ip: string): DropsimError | undefined {
    if (this.connections >= this.limits.maxConnections) return new DropsimError("busy", `The server has as many connections as its open-file limit allows (${this.connections}): try again later`);
    const mine = this.pendingByIp.get(ip) ?? 0;
    if (mine >= this.limits.maxPendingPerIp) return new DropsimError("busy", `Too many connections from ${ip} waiting to authenticate (${mine}): try again later`);
    if (this.pending >= this.limits.maxPending) return new DropsimError("busy", `Too many connections waiting to authenticate (${this.pending}): try again later`);
    this.pendingByIp.set(ip, mine + 1);
    this.pending++;
    this.connections++;
    return undefined;
  }

  /** A connection `open` counted has ended (call `settled` first if it was still pending). */
  closed(): void {
    this.connections--;
  }

  /** Whether the next connection would be refused for want of file descriptors. */
  get full(): boolean {
    return this.connections >= this.limits.maxConnections;
  }

  /** A pending connection authenticated or ended: it no longer counts. */
  settled(ip: string): void {
    const mine = this.pendingByIp.get(ip);
    if (mine === undefined) return;
    if (mine <= 1) this.pendingByIp.delete(ip);
    else this.pendingByIp.set(ip, mine - 1);
    this.pending--;
  }

  /** Why `ip` may not try to authenticate at `now`, when an earlier failure still holds it back. */
  held(ip: string, now: number): DropsimError | undefined {
    const f = this._current(ip, now);
    if (!f) return undefined;
    const until = f.last + this._delay(f.count);
    if (now >= until) return undefined;
    return new DropsimError("busy", `Too many failed attempts to authenticate from ${ip}: try again in ${Math.ceil((until - now) / 1000)} s`);
  }

  failed(ip: string, now: number): void {
    const f = this._current(ip, now);
    this.failures.set(ip, { count: (f?.count ?? 0) + 1, last: now });
  }

  /** Forgets IPs whose last failure is old enough, so the table does not grow without end. */
  prune(now: number): void {
    for (const [ip, f] of this.failures) if (now - f.last >= this.limits.backoffForgetMs) this.failures.delete(ip);
  }

  get pendingCount(): number {
    return this.pending;
  }

  get connectionCount(): number {
    return this.connections;
  }

  private _current(ip: string, now: number): Failures | undefined {
    const f = this.failures.get(ip);
    return f && now - f.last < this.limits.backoffForgetMs ? f : undefined;
  }

  private _delay(count: number): number {
    return Math.min(this.limits.backoffFirstMs * 2 ** (count - 1), this.limits.backoffMaxMs);
  }
}

/**
 * The IP of a connection's `remote`: Bun gives the address alone, Node and Deno add `:port`,
 * which is cut off an IPv4 (or IPv4-mapped) address. An IPv6 address is taken as it is.
 */
export function ipOf(remote: string): string {
  const m = /^((?:::ffff:)?\d{1,3}(?:\.\d{1,3}){3}):\d+$/i.exec(remote);
  return m ? m[1]! : remote;
}

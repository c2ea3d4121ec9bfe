import type { Scope } from "../core/access-token.ts";
import { DropsimError } from "../core/errors.ts";
import { DEFAULT_KEEP_DAYS } from "../core/retention.ts";
import { shareNameProblem } from "../core/share-name.ts";

/**
 * Who may sync what on one server: its shares and their tokens, and where the server last
 * listened (for join links). Kept apart from the shares' journals so that `dropsim share` and
 * `dropsim token` change it beside a running server. Calls are synchronous: SQLite's are, and
 * a session's hello checks a token with nothing else in between.
 */
export interface ShareRecord {
  name: string;
  /** Bytes of live files the share may hold; null when unlimited. */
  quota: number | null;
  created: number;
  /** Days of history GC keeps (core/retention.ts): 0 only the current version, -1 every version. */
  keepDays: number;
}

export interface TokenRecord {
  id: string;
  share: string;
  scope: Scope;
  label: string | null;
  created: number;
  lastUsed: number | null;
  expires: number | null;
  revoked: number | null;
}

/** A token's row with the hash of its secret: only the server's authentication reads it. */
export interface StoredToken extends TokenRecord {
  secretHash: string;
}

export interface NewTokenRow {
  id: string;
  secretHash: string;
  share: string;
  scope: Scope;
  label: string | null;
  expires: number | null;
}

/** A `dropsim gc` run asked of the server that holds the data dir (cli/gc.ts), waiting for it. */
export interface GcRequest {
  id: number;
  dryRun: boolean;
  /** Ms an unreferenced block is kept (server/gc.ts). */
  grace: number;
  requested: number;
}

/** Where the server on this data dir listens and the fingerprint of its certificate (none with --insecure). */
export interface Listening {
  address: string;
  fingerprint: string | null;
}

export interface AccessStore {
  shares(): ShareRecord[];
  share(name: string): ShareRecord | undefined;
  /** Refused as `bad_message` for a name that is not safe as a folder, `exists` if it is taken. */
  addShare(name: string, quota: number | null, now: number, keepDays?: number): void;
  /** Removes the share and revokes its tokens (live sessions hear `revoked`); false if there was none. */
  removeShare(name: string, now: number): boolean;
  setQuota(name: string, quota: number | null): boolean;
  setKeepDays(name: string, days: number): boolean;
  addToken(row: NewTokenRow, now: number): TokenRecord;
  tokens(share?: string): TokenRecord[];
  token(id: string): StoredToken | undefined;
  /** False when there is no such token; revoking twice keeps the first time. */
  revokeToken(id: string, now: number): boolean;
  touchToken(id: string, now: number): void;
  listening(): Listening | undefined;
  setListening(l: Listening): void;
  /** Leaves a GC request for the running server (it polls `dataVersion`); returns its id. */
  requestGc(req: { dryRun: boolean; grace: number }, now: number): number;
  /** Requests not yet finished, oldest first. */
  pendingGc(): GcRequest[];
  /** Writes a request's outcome back (a report or an error, as JSON: server/gc.ts). */
  finishGc(id: number, resultJson: string, now: number): void;
  /** A finished request's outcome; undefined while it waits (or if there is no such request). */
  gcResult(id: number): string | undefined;
  /** Changes when another process (or, in memory, anyone) changed the store: cheap enough to poll. */
  dataVersion(): number;
  close(): void;
}

export function assertShareName(name: string): void {
  const problem = shareNameProblem(name);
  if (problem) throw new DropsimError("bad_message", `Invalid share name "${name}": ${problem}`);
}

export function shareExists(name: string): DropsimError {
  return new DropsimError("bad_message", `Cannot create share "${name}": it exists already`);
}

export function noSuchShare(name: string): DropsimError {
  return new DropsimError("not_found", `Cannot find share "${name}": this server has no such share`);
}

/** The access store of a `memory:` server: gone when it stops. */
export class MemoryAccessStore implements AccessStore {
  private readonly shareRows = new Map<string, ShareRecord>();
  private readonly tokenRows = new Map<string, StoredToken>();
  private readonly gcRows = new Map<number, GcRequest & { result?: string }>();
  private where: Listening | undefined;
  private version = 0;

  shares(): ShareRecord[] {
    return [...this.shareRows.values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => ({ ...s }));
  }

  share(name: string): ShareRecord | undefined {
    const s = this.shareRows.get(name);
    return s && { ...s };
  }

  addShare(name: string, quota: number | null, now: number, keepDays = DEFAULT_KEEP_DAYS): void {
    assertShareName(name);
    if (this.shareRows.has(name)) throw shareExists(name);
    this.shareRows.set(name, { name, quota, created: now, keepDays });
    this.version++;
  }

  removeShare(name: string, now: number): boolean {
    if (!this.shareRows.delete(name)) return false;
    for (const t of this.tokenRows.values()) if (t.share === name) t.revoked ??= now;
    this.version++;
    return true;
  }

  setQuota(name: string, quota: number | null): boolean {
    const s = this.shareRows.get(name);
    if (!s) return false;
    s.quota = quota;
    this.version++;
    return true;
  }

  setKeepDays(name: string, days: number): boolean {
    const s = this.shareRows.get(name);
    if (!s) return false;
    s.keepDays = days;
    this.version++;
    return true;
  }

  addToken(row: NewTokenRow, now: number): TokenRecord {
    if (!this.shareRows.has(row.share)) throw noSuchShare(row.share);
    const stored: StoredToken = { ...row, created: now, lastUsed: null, revoked: null };
    this.tokenRows.set(row.id, stored);
    this.version++;
    return _public(stored);
  }

  tokens(share?: string): TokenRecord[] {
    return [...this.tokenRows.values()].filter((t) => share === undefined || t.share === share).map(_public);
  }

  token(id: string): StoredToken | undefined {
    const t = this.tokenRows.get(id);
    return t && { ...t };
  }

  revokeToken(id: string, now: number): boolean {
    const t = this.tokenRows.get(id);
    if (!t) return false;
    t.revoked ??= now;
    this.version++;
    return true;
  }

  touchToken(id: string, now: number): void {
    const t = this.tokenRows.get(id);
    if (t) t.lastUsed = now;
  }

  listening(): Listening | undefined {
    return this.where && { ...this.where };
  }

  setListening(l: Listening): void {
    this.where = { ...l };
  }

  requestGc(req: { dryRun: boolean; grace: number }, now: number): number {
    const id = this.gcRows.size + 1;
    this.gcRows.set(id, { id, dryRun: req.dryRun, grace: req.grace, requested: now });
    this.version++;
    return id;
  }

  pendingGc(): GcRequest[] {
    return [...this.gcRows.values()].filter((r) => r.result === undefined).map(({ result: _, ...r }) => r);
  }

  finishGc(id: number, resultJson: string): void {
    const r = this.gcRows.get(id);
    if (r) r.result = resultJson;
  }

  gcResult(id: number): string | undefined {
    return this.gcRows.get(id)?.result;
  }

  dataVersion(): number {
    return this.version;
  }

  close(): void {}
}

function _public(t: StoredToken): TokenRecord {
  const { secretHash: _, ...rest } = t;
  return rest;
}

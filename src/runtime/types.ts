import type * as ParcelWatcher from "@parcel/watcher";

/**
 * The narrow contracts that runtime adapters implement. Nothing above `runtime/` imports
 * `Bun`, `Deno`, `bun:sqlite` or `node:net` directly: it receives a `Runtime`.
 */

/** One TCP connection. Writes never drop bytes: what the kernel refuses is queued and flushed on drain. */
export interface Connection {
  readonly remote: string;
  /**
   * `transient`: the caller never uses `bytes` again (a run of block frames), so their memory
   * may be given back as soon as the kernel has them all (core/release.ts).
   */
  write(bytes: Uint8Array, transient?: boolean): void;
  /** Bytes accepted by `write` but not yet handed to the kernel. */
  readonly queuedBytes: number;
  /** Resolves when at most `bytes` remain queued (or the connection closed). */
  drained(bytes?: number): Promise<void>;
  /** Stops / restarts delivery of incoming data: how a busy receiver pushes back on its peer. */
  pause(): void;
  resume(): void;
  close(): void;
  readonly closed: boolean;
  /**
   * Over TLS, the identity of the certificate the peer showed: `SHA256:` + 64 lowercase hex
   * digits of the SHA-256 of its DER bytes. Set on a connection made by `connect` with TLS
   * (before `connect` resolves, so it can be checked before anything is sent); absent otherwise.
   */
  readonly peerFingerprint?: string;
  /**
   * The first bytes the peer sent (up to 64; over TLS, the first it sent inside it). When the
   * first frame fails, they name what answered: an SSH banner, an HTTP status line.
   */
  readonly firstBytes?: Uint8Array;
}

export interface ConnectionEvents {
  /** `bytes` are valid only during the call: an adapter may reuse its receive buffer. */
  data(bytes: Uint8Array): void;
  close(error?: Error): void;
}

export interface Listener {
  readonly port: number;
  close(): void;
}

/** What a TLS listener serves: TLS 1.3 only, with this certificate (PEM, leaf first) and its private key (PEM). */
export interface TlsServe {
  cert: string;
  key: string;
  /**
   * Written in plaintext to a client whose first byte is not a TLS handshake's (an older dropsim
   * speaking its own framing), before the connection is closed: it gets a reason, not silence.
   * Its `close` event then carries a DropsimError "tls_required".
   */
  plaintextReply: Uint8Array;
}

export interface Tcp {
  /** Plain TCP, or TLS when `tls` is given. */
  listen(host: string, port: number, accept: (conn: Connection) => ConnectionEvents, tls?: TlsServe): Promise<Listener>;
  /**
   * Plain TCP, or TLS 1.3 when `tls` is true. The server's certificate is not checked against any
   * CA (servers show self-signed ones): the caller compares `peerFingerprint` with the one it
   * pinned. Resolves once the handshake is done; a failed one rejects with a DropsimError "tls",
   * or "not_dropsim" when what answered is plainly no TLS server (it sent an SSH banner, an HTTP reply).
   */
  connect(host: string, port: number, attach: (conn: Connection) => ConnectionEvents, tls?: boolean): Promise<Connection>;
}

export type SqlValue = string | number | bigint | Uint8Array | null;

export interface SqlStatement {
  run(...params: SqlValue[]): void;
  get<T>(...params: SqlValue[]): T | undefined;
  all<T>(...params: SqlValue[]): T[];
}

export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}

/** An open file descriptor, or a path whose last component is never followed if it is a symlink. */
export type XattrTarget = number | string;

/**
 * A file's extended attributes, through libc: no runtime has them built in. Calls are
 * synchronous (metadata only, no data read). On a descriptor they reach a temp file before its
 * rename; on a path they act on a symlink itself, never on what it points to.
 *
 * Failures throw an `Error` shaped like Node's system errors (`code` such as "ENOTSUP",
 * "EACCES", "E2BIG"; `errno`; `syscall`). "ENOTSUP" means the file system (or, when
 * `supported` is false, this runtime or OS) keeps no such attributes: every call then throws it.
 */
export interface Xattrs {
  /** False where there is no xattr call to reach (Windows, Node, a libc we cannot open). */
  readonly supported: boolean;
  /** The names on the file, in the OS's order. A name that is not UTF-8 is left out. */
  list(target: XattrTarget): string[];
  /** The value, or undefined when the file has no attribute of that name. */
  get(target: XattrTarget, name: string): Uint8Array | undefined;
  /** Creates or replaces one attribute. */
  set(target: XattrTarget, name: string, value: Uint8Array): void;
  /** Removes one attribute; false when there was none of that name. */
  remove(target: XattrTarget, name: string): boolean;
}

/**
 * Copies `length` bytes from offset `from` of `fdIn` to offset `to` of `fdOut` inside the kernel
 * (copy_file_range: no trip through user space, shared extents where the file system has them):
 * 128 MiB in ~50 ms here, against ~450 ms read and written by us. Returns how many it copied:
 * fewer (down to 0) where unsupported or refused, and the caller writes the rest itself.
 */
export type CopyRange = (fdIn: number, from: number, fdOut: number, to: number, length: number) => number;

/** Says that `bytes` of short-lived buffers were just used: the runtime may collect garbage now. */
export type Reclaim = (bytes: number) => void;

export type Watcher = typeof ParcelWatcher;
export type WatchSubscription = ParcelWatcher.AsyncSubscription;
export type WatchEvent = ParcelWatcher.Event;

export interface Runtime {
  readonly name: "bun" | "deno" | "node";
  readonly tcp: Tcp;
  openDatabase(path: string): SqlDatabase;
  readonly xattrs: Xattrs;
  readonly copyRange: CopyRange;
  readonly reclaimAfter: Reclaim;
  /** Makes a folder's entries (a file just renamed into it) durable. */
  syncDir(dir: string): Promise<void>;
  /** The native change watcher, loaded on first use: commands that never watch (serve) never load the addon. */
  loadWatcher(): Promise<Watcher>;
}

/**
 * The narrow contracts that runtime adapters implement. Nothing above `runtime/` imports
 * `Bun`, `Deno`, `bun:sqlite` or `node:net` directly: it receives a `Runtime`.
 */

/** One TCP connection. Writes never drop bytes: what the kernel refuses is queued and flushed on drain. */
export interface Connection {
  readonly remote: string;
  write(bytes: Uint8Array): void;
  /** Bytes accepted by `write` but not yet handed to the kernel. */
  readonly queuedBytes: number;
  /** Resolves when at most `bytes` remain queued (or the connection closed). */
  drained(bytes?: number): Promise<void>;
  /** Stops / restarts delivery of incoming data: how a busy receiver pushes back on its peer. */
  pause(): void;
  resume(): void;
  close(): void;
  readonly closed: boolean;
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

export interface Tcp {
  listen(host: string, port: number, accept: (conn: Connection) => ConnectionEvents): Promise<Listener>;
  connect(host: string, port: number, attach: (conn: Connection) => ConnectionEvents): Promise<Connection>;
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

export interface Runtime {
  readonly name: "bun" | "deno" | "node";
  readonly tcp: Tcp;
  openDatabase(path: string): SqlDatabase;
}

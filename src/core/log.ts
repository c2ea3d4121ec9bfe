/** The slice of a consola logger the server and client use; tests can pass a silent one. */
export interface Log {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  success(...args: unknown[]): void;
}

/** The slice of a consola logger the server and the CLI use; tests can pass a silent one. A type only, so both sides may import it. */
export interface Log {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  success(...args: unknown[]): void;
}

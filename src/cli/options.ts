import { DropsimError } from "../core/errors.ts";

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new DropsimError("bad_message", `Invalid port "${value}": expected a number from 0 to 65535`);
  }
  return port;
}

/** "host:port" → parts; a bare host gets the default port. */
export function parseServerAddress(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(value.trim());
  if (!m) throw new DropsimError("bad_message", `Invalid server address "${value}": expected host:port, e.g. 127.0.0.1:7070`);
  return { host: m[1] ?? m[2]!, port: m[3] === undefined ? 7070 : parsePort(m[3]) };
}

/** "1h", "30m", "45s", "500ms" or plain seconds → milliseconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new DropsimError("bad_message", `Invalid duration "${value}": expected e.g. 1h, 30m, 45s or 500ms`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]!;
  return Number(m[1]) * unit;
}

export function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new DropsimError("bad_message", `Invalid count "${value}": expected a whole number`);
  return n;
}

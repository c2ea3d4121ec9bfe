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

/** "30d", "1h", "30m", "45s", "500ms" or plain seconds → milliseconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new DropsimError("bad_message", `Invalid duration "${value}": expected e.g. 30d, 1h, 30m, 45s or 500ms`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "s"]!;
  return Number(m[1]) * unit;
}

export function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new DropsimError("bad_message", `Invalid count "${value}": expected a whole number`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "50GiB", "500MB", "1024" (bytes) → bytes; "none" → null (no limit). */
export function parseQuota(value: string): number | null {
  if (value.trim().toLowerCase() === "none") return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(value.trim());
  if (!m) throw new DropsimError("bad_message", `Invalid quota "${value}": expected a size such as 50GiB or 500MB, or none`);
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? "b").toLowerCase()]!);
}

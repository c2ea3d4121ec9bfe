import { DropsimError } from "../core/errors.ts";
import { parseFingerprint } from "../core/fingerprint.ts";
import { parseJoinLink } from "../core/join-link.ts";

/*
 * Values given as text (flags, DROPSIM_* variables, the config file), each refused with one
 * sentence that quotes it and says what is allowed. `where` ("for --port", "for port (from
 * DROPSIM_PORT)") tells which setting it came from when the value alone would not.
 */

export const DEFAULT_PORT = 7070;

export function parsePort(value: string, where = ""): number {
  const port = Number(value);
  if (value.trim() === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new DropsimError("bad_message", `Invalid port "${value}"${where}: expected a number from 0 to 65535`);
  }
  return port;
}

/** "host:port", "[::1]:7070", a bare host (the default port), or a join link (its host and port). */
export function parseServerAddress(value: string, where = ""): { host: string; port: number } {
  if (value.trim().toLowerCase().startsWith("dropsim://")) {
    const { host, port } = parseJoinLink(value);
    return { host, port };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/]+))(?::(\d*))?$/.exec(value.trim());
  if (!m) throw new DropsimError("bad_message", `Invalid server address "${value}"${where}: expected HOST:PORT such as 127.0.0.1:7070 or [::1]:7070, a host, or a join link`);
  return { host: m[1] ?? m[2]!, port: m[3] === undefined ? DEFAULT_PORT : parsePort(m[3], where) };
}

export interface DurationRange {
  /** Milliseconds; 0 lets "0" through (e.g. "never" or "no grace"). */
  min: number;
  max: number;
}

/** What a duration may be when its flag says nothing else: flags set their own range in FLAG_VALUES. */
export const ANY_DURATION: DurationRange = { min: 0, max: 100 * 365 * 86_400_000 };

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** "1h30m", "2d", "45s", "500ms" or plain seconds → milliseconds, within `range`. */
export function parseDuration(value: string, range: DurationRange = ANY_DURATION, where = ""): number {
  const text = value.trim();
  let ms: number | undefined;
  if (/^\d+(?:\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else if (DURATION.test(text)) ms = [...text.matchAll(DURATION_PART)].reduce((sum, [, n, unit]) => sum + Number(n) * DURATION_UNITS[unit!]!, 0);
  if (ms === undefined || ms < range.min || ms > range.max || (ms === 0 && range.min > 0)) {
    throw new DropsimError("bad_message", `Invalid duration "${value}"${where}: expected ${_rangeText(range)}`);
  }
  return ms;
}

function _rangeText(range: DurationRange): string {
  const example = "such as 1h30m, 45s or 500ms";
  if (range.min === 0) return `0 or a duration ${example}, up to ${formatDuration(range.max)}`;
  return `a duration ${example}, from ${formatDuration(range.min)} to ${formatDuration(range.max)}`;
}

/** Milliseconds as the shortest duration text parseDuration reads back: 5_400_000 → "1h30m". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of Object.entries(DURATION_UNITS).reverse()) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join("");
}

export function parseCount(value: string, where = ""): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0) throw new DropsimError("bad_message", `Invalid count "${value}"${where}: expected a whole number`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "50GiB", "500MB", "1024" (bytes) → bytes; "none" → null (no limit). */
export function parseQuota(value: string, where = ""): number | null {
  if (value.trim().toLowerCase() === "none") return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(value.trim());
  if (!m) throw new DropsimError("bad_message", `Invalid quota "${value}"${where}: expected a size such as 50GiB or 500MB, or none`);
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? "b").toLowerCase()]!);
}

const DAY = 86_400_000;
const duration = (min: number, max: number) => (v: string, where: string) => parseDuration(v, { min, max }, where);

/**
 * How each flag's text is checked before a command runs, whatever it came from (the line, the
 * environment, the config file), so that a bad value is refused naming its source. Commands
 * parse the same text again for its value; flags absent here are checked by their command.
 */
export const FLAG_VALUES: Readonly<Record<string, (value: string, where: string) => unknown>> = {
  port: parsePort,
  server: parseServerAddress,
  address: parseServerAddress,
  join: (v) => parseJoinLink(v),
  fingerprint: (v) => parseFingerprint(v),
  "accept-fingerprint": (v) => parseFingerprint(v),
  "rescan-interval": duration(1000, 7 * DAY),
  "gc-every": duration(0, 365 * DAY),
  grace: duration(0, 365 * DAY),
  expires: duration(1000, 100 * 365 * DAY),
  timeout: duration(100, 7 * DAY),
  stats: duration(1000, DAY),
  limit: parseCount,
  "mass-delete-limit": parseCount,
  "max-pending": parseCount,
  "max-pending-per-ip": parseCount,
  quota: parseQuota,
};

import { DropsimError } from "./errors.ts";

/**
 * The moments `--at` takes and the times `history` prints. Pure: the caller passes the current
 * time and the local zone, so tests run in any zone and at any date.
 */

/** Minutes east of UTC in force at a UTC instant (+60 in Paris in winter); `-Date#getTimezoneOffset()`. */
export type ZoneOffset = (utcMs: number) => number;

const ACCEPTED = `expected a local time such as "2026-12-01 14:00" or "2026-12-01 14:00:30" (an offset such as +01:00 may follow), a time ago such as "2h ago", "90m ago", "3 days ago" or "1h30m ago", or an ISO 8601 timestamp such as 2026-12-01T13:00:00Z`;

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};
/** Every spelling of a unit, by its one-letter key. */
const UNIT_NAMES: Record<string, string> = {
  s: "s", sec: "s", secs: "s", second: "s", seconds: "s",
  m: "m", min: "m", mins: "m", minute: "m", minutes: "m",
  h: "h", hr: "h", hrs: "h", hour: "h", hours: "h",
  d: "d", day: "d", days: "d",
  w: "w", week: "w", weeks: "w",
};

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/;
/** With a zone: ISO 8601, and what `formatLocalTime` prints (a space before the offset). */
const ISO = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)? ?(Z|[+-]\d{2}:?\d{2})$/i;
const AGO = /^((?:\d+\s*[a-z]+\s*)+)ago$/i;
const AGO_PART = /(\d+)\s*([a-z]+)/gi;

/** `value` as server milliseconds (UTC); throws a bad_message DropsimError naming the forms accepted. */
export function parseTimeSpec(value: string, now: number, zone: ZoneOffset): number {
  const text = value.trim();
  const ms = _parseAgo(text, now) ?? _parseIso(text) ?? _parseLocal(text, zone);
  if (ms === undefined) throw new DropsimError("bad_message", `Invalid time "${value}": ${ACCEPTED}`);
  return ms;
}

/** `2026-12-01 14:03:22 +01:00`: local time with its offset, so it reads the same in any zone. */
export function formatLocalTime(utcMs: number, zone: ZoneOffset): string {
  const offset = zone(utcMs);
  const d = new Date(utcMs + offset * 60_000);
  const date = `${d.getUTCFullYear()}-${_two(d.getUTCMonth() + 1)}-${_two(d.getUTCDate())}`;
  const time = `${_two(d.getUTCHours())}:${_two(d.getUTCMinutes())}:${_two(d.getUTCSeconds())}`;
  const abs = Math.abs(offset);
  return `${date} ${time} ${offset < 0 ? "-" : "+"}${_two(Math.floor(abs / 60))}:${_two(abs % 60)}`;
}

/** UTC ISO 8601 with milliseconds, as `--json` prints every time. */
export function formatUtcTime(utcMs: number): string {
  return new Date(utcMs).toISOString();
}

function _parseAgo(text: string, now: number): number | undefined {
  const m = AGO.exec(text);
  if (!m) return undefined;
  let total = 0;
  for (const [, n, unit] of m[1]!.matchAll(AGO_PART)) {
    const key = UNIT_NAMES[unit!.toLowerCase()];
    if (key === undefined) return undefined;
    total += Number(n) * UNIT_MS[key]!;
  }
  return now - total;
}

function _parseIso(text: string): number | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const wall = _wallClock(m);
  if (wall === undefined) return undefined;
  const zone = m[8]!.toUpperCase();
  if (zone === "Z") return wall;
  const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  const hours = Number(z[2]);
  const minutes = Number(z[3]);
  if (hours > 23 || minutes > 59) return undefined;
  return wall - (z[1] === "-" ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

/**
 * Local wall-clock time to UTC: the offset is the zone's at that moment, found by asking once
 * at the wall time read as UTC and once more at the instant that gives (right across a DST change).
 */
function _parseLocal(text: string, zone: ZoneOffset): number | undefined {
  const m = LOCAL.exec(text);
  if (!m) return undefined;
  const wall = _wallClock(m);
  if (wall === undefined) return undefined;
  const guess = wall - zone(wall) * 60_000;
  return wall - zone(guess) * 60_000;
}

/** Date and time fields (groups 1–7) read as UTC ms, or undefined when one is out of range (Feb 30). */
function _wallClock(m: RegExpExecArray): number | undefined {
  const [y, mo, d, h, mi] = [1, 2, 3, 4, 5].map((i) => Number(m[i]));
  const s = Number(m[6] ?? 0);
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  if (h! > 23 || mi! > 59 || s > 59) return undefined;
  const ms = Date.UTC(y!, mo! - 1, d!, h!, mi!, s, fraction);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo! - 1 || back.getUTCDate() !== d) return undefined;
  return ms;
}

function _two(n: number): string {
  return String(n).padStart(2, "0");
}

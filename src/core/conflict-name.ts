import { parentOf, baseName, MAX_PATH_BYTES, MAX_SEGMENT_BYTES } from "./wire-path.ts";

const encoder = new TextEncoder();

/** Who made a conflict copy, and when: enough to tell every conflict apart. */
export interface ConflictOrigin {
  host: string;
  /** The client's id; its first characters go into the name. */
  clientId: string;
  date: Date;
}

/** Characters of the client id kept in a name: one host may run several clients. */
const ID_CHARS = 6;
const LABEL = /^conflicted copy (?:(\d+) )?from (.+) (\d{4}-\d{2}-\d{2} \d{2}\.\d{2}\.\d{2}) ([0-9a-zA-Z]+)$/;

/**
 * `report.pdf` → `report (conflicted copy from HOST 2026-11-24 14.03.22 3f2a9c).pdf`, the form
 * people know from Dropbox, with the time (UTC, to the second) and a short client id so that
 * two conflicts on one path never get the same name (seed 1274097272 lost a write when two
 * clients on one host made the same day-only name). `taken` lets the caller add a counter when
 * the name is still used. The stem is shortened when needed so the result is a valid wire path.
 */
export function conflictName(path: string, origin: ConflictOrigin, taken: (p: string) => boolean = () => false): string {
  const when = origin.date.toISOString().slice(0, 19).replace("T", " ").replaceAll(":", ".");
  const safeHost = _fitBytes(origin.host.replace(/[/\\\0()]/g, "_"), 64);
  const id = origin.clientId.replace(/[^0-9a-zA-Z]/g, "").slice(0, ID_CHARS) || "0";
  return labelledName(path, (n) => `conflicted copy ${n === 1 ? "" : `${n} `}from ${safeHost} ${when} ${id}`, taken);
}

/**
 * `report.pdf` → `report (LABEL).pdf` in the same folder, with `label(n)` for the n-th try while
 * `taken` says the name is used. An extension longer than 32 bytes is no extension. The stem is
 * shortened when needed so the result is a valid wire path.
 */
export function labelledName(path: string, label: (n: number) => string, taken: (p: string) => boolean = () => false): string {
  const dir = parentOf(path);
  const name = baseName(path);
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 && _bytes(name) - _bytes(name.slice(0, dot)) <= 32 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  const room = Math.min(MAX_SEGMENT_BYTES, MAX_PATH_BYTES - (dir ? _bytes(dir) + 1 : 0));
  for (let n = 1; ; n++) {
    const suffix = ` (${label(n)})${ext}`;
    const candidate = `${dir ? `${dir}/` : ""}${_fitBytes(stem, room - _bytes(suffix))}${suffix}`;
    if (!taken(candidate)) return candidate;
  }
}

/** The host that made a conflict copy, read back from its name; undefined for any other name. */
export function conflictCopyHost(path: string): string | undefined {
  const name = baseName(path);
  const open = name.lastIndexOf(" (conflicted copy ");
  if (open < 0) return undefined;
  const close = name.indexOf(")", open);
  return LABEL.exec(name.slice(open + 2, close))?.[2];
}

function _bytes(s: string): number {
  return encoder.encode(s).length;
}

/** The longest prefix of `s` (whole code points) that fits in `max` UTF-8 bytes. */
function _fitBytes(s: string, max: number): string {
  if (_bytes(s) <= max) return s;
  let out = "";
  let used = 0;
  for (const ch of s) {
    used += _bytes(ch);
    if (used > max) break;
    out += ch;
  }
  return out;
}

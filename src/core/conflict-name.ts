import { parentOf, baseName, MAX_PATH_BYTES, MAX_SEGMENT_BYTES } from "./wire-path.ts";

const encoder = new TextEncoder();

/**
 * `report.pdf` → `report (conflicted copy from HOST 2026-11-24).pdf`, the name people know
 * from Dropbox. `taken` lets the caller add a counter when that name is already used.
 * The stem is shortened when needed so the result is still a valid wire path.
 */
export function conflictName(path: string, host: string, date: Date, taken: (p: string) => boolean = () => false): string {
  const dir = parentOf(path);
  const name = baseName(path);
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 && _bytes(name) - _bytes(name.slice(0, dot)) <= 32 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  const day = date.toISOString().slice(0, 10);
  const safeHost = _fitBytes(host.replace(/[/\\\0]/g, "_"), 64);
  const room = Math.min(MAX_SEGMENT_BYTES, MAX_PATH_BYTES - (dir ? _bytes(dir) + 1 : 0));
  for (let n = 1; ; n++) {
    const label = n === 1 ? `conflicted copy from ${safeHost} ${day}` : `conflicted copy ${n} from ${safeHost} ${day}`;
    const suffix = ` (${label})${ext}`;
    const candidate = `${dir ? `${dir}/` : ""}${_fitBytes(stem, room - _bytes(suffix))}${suffix}`;
    if (!taken(candidate)) return candidate;
  }
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

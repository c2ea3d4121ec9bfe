/**
 * Which extended attributes sync, and the one form a file's set of them takes on the wire and
 * in the index.
 *
 * Invariants of an `XattrSet`: names are distinct, non-empty, free of NUL, and sorted by
 * `compareNames`; values are canonical base64 (what `toBase64` gives back); names (as UTF-8)
 * and values (decoded) total at most `XATTR_LIMIT` bytes. Two files carry the same attributes
 * exactly when their sets are `sameXattrs`, so a set can be compared, stored and hashed as is.
 */

/** Per file, names and values together: a larger set is not synced (and is warned about once). */
export const XATTR_LIMIT = 64 * 1024;

/** One attribute: its name as the OS spells it, and its value in base64. */
export type XattrPair = readonly [name: string, value: string];
export type XattrSet = readonly XattrPair[];

/** A file whose synced attributes exceed the limit: `bytes` counts at least what was seen. */
export interface XattrsTooLarge {
  readonly tooLarge: true;
  readonly bytes: number;
}

/** macOS names outside `com.apple.` are the user's; of Apple's own, only the Finder's tags and info follow the file. */
const APPLE_PREFIX = "com.apple.";
const APPLE_SYNCED = new Set(["com.apple.metadata:_kMDItemUserTags", "com.apple.FinderInfo"]);

/**
 * Whether an attribute named `name` on `platform` (as `process.platform` spells it) is synced.
 * Linux: the `user.` namespace only (`security.`, `system.` and `trusted.` belong to the
 * machine). macOS: everything but Apple's bookkeeping (quarantine, provenance, resource forks,
 * last-used dates), except Finder tags and Finder info. Elsewhere: nothing.
 */
export function syncsXattr(name: string, platform: string): boolean {
  if (name === "" || name.includes("\0")) return false;
  if (platform === "linux") return name.startsWith("user.") && name.length > "user.".length;
  if (platform === "darwin") return !name.startsWith(APPLE_PREFIX) || APPLE_SYNCED.has(name);
  return false;
}

/** Orders names by UTF-16 code unit: the same on every replica, whatever its locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const utf8 = new TextEncoder();

/** What one attribute counts against `XATTR_LIMIT`. */
export function xattrBytes(name: string, valueLength: number): number {
  return utf8.encode(name).length + valueLength;
}

/**
 * The canonical set of `attrs` (name, raw value), or `tooLarge` when they total more than
 * `limit`. A name given twice keeps its last value. Filtering by `syncsXattr` is the caller's.
 */
export function encodeXattrs(attrs: Iterable<readonly [string, Uint8Array]>, limit = XATTR_LIMIT): XattrSet | XattrsTooLarge {
  const byName = new Map<string, Uint8Array>();
  for (const [name, value] of attrs) byName.set(name, value);
  let bytes = 0;
  for (const [name, value] of byName) bytes += xattrBytes(name, value.length);
  if (bytes > limit) return { tooLarge: true, bytes };
  return [...byName.keys()].sort(compareNames).map((name): XattrPair => [name, byName.get(name)!.toBase64()]);
}

/** The raw values of a set, in its order: what to write to a file. */
export function decodeXattrs(set: XattrSet): [name: string, value: Uint8Array][] {
  return set.map(([name, value]) => [name, Uint8Array.fromBase64(value)]);
}

export function isTooLarge(x: XattrSet | XattrsTooLarge | undefined): x is XattrsTooLarge {
  return x !== undefined && !Array.isArray(x);
}

/** Whether two sets hold the same attributes. `undefined` (not known, or not supported) equals only itself and the empty set. */
export function sameXattrs(a: XattrSet | undefined, b: XattrSet | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every(([name, value], i) => name === y[i]![0] && value === y[i]![1]);
}

/** Why `set` breaks an invariant of `XattrSet` (say, as received from a peer), or undefined if it holds them all. */
export function xattrSetProblem(set: XattrSet, limit = XATTR_LIMIT): string | undefined {
  let bytes = 0;
  for (let i = 0; i < set.length; i++) {
    const [name, value] = set[i]!;
    if (name === "" || name.includes("\0")) return `Attribute name ${JSON.stringify(name)} is empty or holds a NUL`;
    if (i > 0 && compareNames(set[i - 1]![0], name) >= 0) return `Attribute "${name}" is out of order or repeated`;
    let raw: Uint8Array;
    try {
      raw = Uint8Array.fromBase64(value);
    } catch {
      return `Attribute "${name}" has a value that is not base64`;
    }
    if (raw.toBase64() !== value) return `Attribute "${name}" has a value not in canonical base64`;
    bytes += xattrBytes(name, raw.length);
  }
  if (bytes > limit) return `Attributes total ${bytes} bytes: more than the limit of ${limit}`;
  return undefined;
}

/**
 * The set a file read on `platform` stands for: `read`, plus those attributes of `synced` (the
 * set it was last synced with) that this replica cannot hold: names it does not sync (Finder
 * tags on Linux), or all of them where it reads none (`read` undefined: no xattr support). A
 * replica that cannot keep an attribute thus never strips it from the others by an edit.
 * Foreign names that would take the set past `limit` are dropped. Empty is undefined.
 */
export function withForeignXattrs(read: XattrSet | undefined, synced: XattrSet | undefined, platform: string, limit = XATTR_LIMIT): XattrSet | undefined {
  if (read === undefined) return synced?.length ? synced : undefined;
  const foreign = (synced ?? []).filter(([name]) => !syncsXattr(name, platform));
  if (foreign.length === 0) return read.length ? read : undefined;
  const merged = [...read.filter(([name]) => !foreign.some(([f]) => f === name)), ...foreign].sort(([a], [b]) => compareNames(a, b));
  const chosen = xattrSetProblem(merged, limit) === undefined ? merged : read;
  return chosen.length ? chosen : undefined;
}

import process from "node:process";
import { decodeXattrs, encodeXattrs, syncsXattr, XATTR_LIMIT, type XattrSet, type XattrsTooLarge, xattrBytes } from "../core/xattrs.ts";
import type { Runtime, XattrTarget } from "../runtime/types.ts";

/** An attribute of a set that the file did not take, and why, for the warning. */
export interface SkippedXattr {
  readonly name: string;
  readonly reason: string;
}

export interface XattrsWritten {
  readonly skipped: readonly SkippedXattr[];
}

const isCode = (e: unknown, ...codes: string[]) => codes.includes((e as NodeJS.ErrnoException | undefined)?.code ?? "");
/** What a file system answers when it will not take one attribute: too big for its block (ext4), no permission, a value it rejects. */
const REFUSALS = ["E2BIG", "ENOSPC", "ERANGE", "EACCES", "EPERM", "EINVAL"];

/**
 * The synced attributes of a file (`syncsXattr` on `platform`) in canonical form: call it on
 * the descriptor the scan hashed through, or on a path (a symlink is not followed).
 * Returns undefined when the runtime or the file system keeps no attributes, and `tooLarge`
 * (without reading further) once they pass `XATTR_LIMIT`: the caller warns once and syncs the
 * file without them. An attribute removed while we read is left out. Other failures throw.
 */
export function readXattrs(runtime: Pick<Runtime, "xattrs">, target: XattrTarget, platform: string = process.platform): XattrSet | XattrsTooLarge | undefined {
  const { xattrs } = runtime;
  if (!xattrs.supported) return undefined;
  let names: string[];
  try {
    names = xattrs.list(target);
  } catch (e) {
    if (isCode(e, "ENOTSUP")) return undefined;
    throw e;
  }
  const pairs: [string, Uint8Array][] = [];
  let bytes = 0;
  for (const name of names) {
    if (!syncsXattr(name, platform)) continue;
    const value = xattrs.get(target, name);
    if (value === undefined) continue;
    bytes += xattrBytes(name, value.length);
    if (bytes > XATTR_LIMIT) return { tooLarge: true, bytes };
    pairs.push([name, value]);
  }
  return encodeXattrs(pairs);
}

/**
 * Makes the synced attributes of `target` exactly `set`: sets those that differ and removes
 * synced ones the set lacks; attributes that do not sync here (`security.*`, quarantine) are
 * left alone. Meant for a download's temp file, by descriptor, before its rename; on a file
 * already in place it writes only what changed, so an unchanged file keeps its ctime.
 *
 * Returns "unsupported" when the set holds attributes and the runtime or file system keeps
 * none. A name this OS does not sync (a macOS name arriving on Linux) or one the file system
 * refuses is skipped and reported; the rest are still written. Other failures throw.
 * On Linux a user attribute needs write permission on the file: write before a chmod to read-only.
 */
export function writeXattrs(runtime: Pick<Runtime, "xattrs">, target: XattrTarget, set: XattrSet, platform: string = process.platform): XattrsWritten | "unsupported" {
  const { xattrs } = runtime;
  if (!xattrs.supported) return set.length === 0 ? { skipped: [] } : "unsupported";
  let present: string[];
  try {
    present = xattrs.list(target).filter((name) => syncsXattr(name, platform));
  } catch (e) {
    if (!isCode(e, "ENOTSUP")) throw e;
    if (set.length > 0) return "unsupported";
    return { skipped: [] };
  }
  const wanted = new Set(set.map(([name]) => name));
  for (const name of present) if (!wanted.has(name)) xattrs.remove(target, name);

  const skipped: SkippedXattr[] = [];
  const existing = new Set(present);
  for (const [name, value] of decodeXattrs(set)) {
    if (!syncsXattr(name, platform)) {
      skipped.push({ name, reason: `not synced on ${platform}` });
      continue;
    }
    if (existing.has(name) && sameBytes(xattrs.get(target, name), value)) continue;
    try {
      xattrs.set(target, name, value);
    } catch (e) {
      if (isCode(e, "ENOTSUP")) return "unsupported";
      if (!isCode(e, ...REFUSALS)) throw e;
      skipped.push({ name, reason: `the file system refused it: ${(e as NodeJS.ErrnoException).code}` });
    }
  }
  return { skipped };
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

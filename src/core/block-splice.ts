import { hashBlockList } from "./block-hash.ts";
import type { BlockRef, Entry } from "./entry.ts";
import { DropsimError } from "./errors.ts";

/**
 * A block list told as an edit of the list of an earlier version of the same path: `drop`
 * blocks at index `at` replaced by `insert`. A 16-byte edit of a 256 MiB file changes one or
 * two of its ~16,000 blocks; sending the whole list (≈1 MB of JSON) for it would cost far
 * more than the changed bytes themselves.
 */
export interface BlockSplice {
  base: number;
  at: number;
  drop: number;
  insert: BlockRef[];
}

/** An entry as it travels: with its whole block list, or with a splice of an earlier version's. */
export type WireEntry = Omit<Entry, "blocks"> & { blocks?: BlockRef[]; splice?: BlockSplice };

function sameRef(a: BlockRef, b: BlockRef): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/** The smallest single splice turning `old` into `next`: everything between the common prefix and suffix. */
export function diffBlocks(base: number, old: readonly BlockRef[], next: readonly BlockRef[]): BlockSplice {
  const most = Math.min(old.length, next.length);
  let prefix = 0;
  while (prefix < most && sameRef(old[prefix]!, next[prefix]!)) prefix++;
  let suffix = 0;
  while (suffix < most - prefix && sameRef(old[old.length - 1 - suffix]!, next[next.length - 1 - suffix]!)) suffix++;
  return { base, at: prefix, drop: old.length - prefix - suffix, insert: next.slice(prefix, next.length - suffix) };
}

export function applySplice(old: readonly BlockRef[], s: BlockSplice): BlockRef[] {
  if (s.at + s.drop > old.length) {
    throw new DropsimError("bad_message", `Block splice drops blocks ${s.at}..${s.at + s.drop} of a list of ${old.length}`);
  }
  return [...old.slice(0, s.at), ...s.insert, ...old.slice(s.at + s.drop)];
}

/** `entry` for the wire: as a splice of `base` (the path's previous state) when that is shorter. */
export function compactEntry(entry: Entry, base: Entry | undefined): WireEntry {
  if (!base || base.deleted || base.kind !== "file" || entry.deleted || entry.kind !== "file" || entry.movedFrom) return entry;
  if (base.version >= entry.version) return entry;
  const splice = diffBlocks(base.version, base.blocks, entry.blocks);
  if (splice.insert.length >= entry.blocks.length) return entry;
  const { blocks: _, ...rest } = entry;
  return { ...rest, splice };
}

/**
 * The full entry for a wire entry. `known` lists what the receiver holds for the path (any
 * versions); undefined when neither the splice's base nor the entry's own version is among them.
 */
export function expandEntry(wire: WireEntry, known: readonly Entry[]): Entry | undefined {
  const { splice, blocks, ...rest } = wire;
  if ((splice === undefined) === (blocks === undefined)) {
    throw new DropsimError("bad_message", `Entry "${wire.path}" must carry either a block list or a splice`);
  }
  if (blocks) return { ...rest, blocks };
  const same = known.find((k) => k.version === wire.version && k.hash === wire.hash);
  if (same) return { ...rest, blocks: same.blocks };
  const base = known.find((k) => k.version === splice!.base && !k.deleted && k.kind === "file");
  if (!base || splice!.at + splice!.drop > base.blocks.length) return undefined;
  const spliced = applySplice(base.blocks, splice!);
  // A base held under the right version number but with other content (it cannot happen with
  // one server, but costs one hash to rule out) must not yield a wrong list: pull it whole.
  return hashBlockList(spliced.map(([h]) => h)) === wire.hash ? { ...rest, blocks: spliced } : undefined;
}

/**
 * For each block of `next`, whether `old` holds the same block at the same byte offset: a copy
 * of the old file already has those bytes in place, and only the others need writing.
 */
export function keptInPlace(old: readonly BlockRef[], next: readonly BlockRef[]): boolean[] {
  const oldAt = new Map<number, string>();
  let offset = 0;
  for (const [hash, size] of old) {
    oldAt.set(offset, hash);
    offset += size;
  }
  offset = 0;
  return next.map(([hash, size]) => {
    const kept = oldAt.get(offset) === hash;
    offset += size;
    return kept;
  });
}

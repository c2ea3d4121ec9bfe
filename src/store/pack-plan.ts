/** One pack file as compaction weighs it. */
export interface PackUsage {
  id: number;
  /** The file's size on disk. */
  size: number;
  /** Bytes of the blocks the index places in it. */
  live: number;
}

export interface PackPlan {
  /** Packs nothing lives in: removed. */
  remove: number[];
  /** Packs whose dead share passes the threshold: their live blocks are copied to a new pack. */
  rewrite: number[];
  before: number;
  /** What the pack files will weigh once done. */
  after: number;
}

/**
 * Which packs compaction reclaims. Pure: the caller gives the packs as they are on disk and in
 * the index. A pack is dead space once nothing lives in it, and is rewritten once its dead share
 * (1 - live / size) passes `threshold`: rewriting writes its live bytes anew.
 */
export function planCompaction(packs: readonly PackUsage[], threshold: number): PackPlan {
  const plan: PackPlan = { remove: [], rewrite: [], before: 0, after: 0 };
  for (const p of packs) {
    plan.before += p.size;
    if (p.live === 0) plan.remove.push(p.id);
    else if (1 - p.live / p.size > threshold) {
      plan.rewrite.push(p.id);
      plan.after += p.live;
    } else plan.after += p.size;
  }
  return plan;
}

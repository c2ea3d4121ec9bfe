/**
 * Control messages are bounded by the frame limit (8 MiB), and what one entry or op weighs
 * varies a thousandfold (a block list, 64 KiB of extended attributes). Lists of them are cut
 * by size as well as by count, well below the limit (JSON characters count at most 3 bytes).
 */
export const LIST_BUDGET = 2 * 1024 * 1024;

/** How many of `items`, from the first, fit in `budget` JSON characters; at least one, so paging always moves on. */
export function countWithin(items: readonly unknown[], budget = LIST_BUDGET): number {
  let used = 0;
  for (let i = 0; i < items.length; i++) {
    used += JSON.stringify(items[i]).length + 1;
    if (used > budget) return Math.max(1, i);
  }
  return items.length;
}

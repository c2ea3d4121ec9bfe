/**
 * An unmounted disk, a folder restored from an old backup or a stray `rm -rf` looks to a sync
 * tool like "the user deleted everything". Deletions that large are held until confirmed.
 */
export const DEFAULT_MASS_DELETE_LIMIT = 1000;

/** True when `deletions` of a tree of `treeSize` synced paths must wait for confirmation. */
export function isMassDelete(deletions: number, treeSize: number, limit: number): boolean {
  return deletions > limit && deletions * 2 > treeSize;
}

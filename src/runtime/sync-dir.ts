import * as fs from "node:fs/promises";
import process from "node:process";

/**
 * Makes a folder's entries durable: a file created, renamed or removed in it survives a power
 * cut only once the folder itself is synced (POSIX; ext4 and XFS often do it along with a later
 * fsync of anything, btrfs does not). Windows has no fsync of a folder (opening one fails), so
 * there it does nothing: NTFS journals its entries itself.
 */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

import { Database } from "bun:sqlite";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { REPO_ROOT } from "../helpers/spawn-dropsim.ts";

/** Data dirs and synced folders left by older dropsims: tests/fixtures/upgrade/README.md. */
export const FIXTURE_DIR = path.join(REPO_ROOT, "tests/fixtures/upgrade");

/** The commits with a fixture, oldest first as the README lists them. */
export const FIXTURE_COMMITS = ["bc248cc", "d67140f"];

export interface ExtractedFixture {
  /** The server's data dir. */
  data: string;
  /** The synced folder, with its .dropsim/state.db. */
  folder: string;
}

/** Unpacks the fixture of `commit` into `into` (`data/` and `folder/`). */
export async function extractFixture(commit: string, into: string): Promise<ExtractedFixture> {
  const archive = path.join(FIXTURE_DIR, `${commit}.tar.gz`);
  const proc = Bun.spawn(["tar", "-xzf", archive, "-C", into], { stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`Cannot unpack ${archive}: tar exited with code ${code}: ${err}`);
  const folder = path.join(into, "folder");
  await repointFingerprints(folder);
  return { data: path.join(into, "data"), folder };
}

/**
 * tar restores contents, modes and mtimes, but not inode numbers or ctimes. An upgrade meets
 * the folder the old binary left, whose recorded fingerprints match it, so they are pointed at
 * the copy. A ctime the old binary did not record (no column, or -1) stays unrecorded.
 */
async function repointFingerprints(folder: string): Promise<void> {
  const db = new Database(path.join(folder, ".dropsim/state.db"));
  try {
    const columns = new Set((db.query("PRAGMA table_info(files)").all() as { name: string }[]).map((c) => c.name));
    const setIno = db.prepare("UPDATE files SET st_ino = ? WHERE path = ?");
    const setCtime = columns.has("st_ctime") ? db.prepare("UPDATE files SET st_ctime = ? WHERE path = ? AND st_ctime != -1") : undefined;
    for (const { path: rel } of db.query("SELECT path FROM files").all() as { path: string }[]) {
      const st = await fs.lstat(path.join(folder, rel));
      setIno.run(st.ino, rel);
      setCtime?.run(st.ctimeMs, rel);
    }
  } finally {
    db.close();
  }
}

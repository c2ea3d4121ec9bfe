import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hashBlock, hashBlockList } from "../core/block-hash.ts";
import { symlinkContent, symlinkTargetProblem } from "../core/entry.ts";
import { describeError } from "../core/errors.ts";
import { ancestorsOf, wirePathProblem } from "../core/wire-path.ts";
import type { SqlDatabase } from "../runtime/types.ts";
import { PackBlockStore } from "../store/pack-block-store.ts";
import { SqlMetaStore } from "../store/sql-meta-store.ts";

/** What `checkDataDir` found: `problems` is empty when the data dir is consistent. */
export interface FsckReport {
  problems: string[];
  entries: number;
  files: number;
  dirs: number;
  /** Distinct blocks referenced by current entries, and their bytes (each counted once). */
  blocks: number;
  bytes: number;
  /** The journal's last sequence number. */
  head: number;
}

/** More problems than this are counted but not listed: a broken store should not print a million lines. */
const MAX_LISTED = 200;

interface JournalRow {
  seq: number;
  path: string;
  kind: string;
  size: number;
  hash: string;
  blocks: string;
  deleted: number;
  target: string | null;
}

interface IndexRow {
  hash: string;
  pack: number;
  offset: number;
  size: number;
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}

/**
 * Reads a server data dir and reports every way it is inconsistent, in plain words:
 *  - entries and journal agree: each `entries` row points at a journal row of the same path,
 *    and at the newest journal row of that path; every journalled path has an `entries` row;
 *  - every current file's blocks are in the block index, inside their pack file, and their
 *    bytes hash to their names; block sizes match the index and add up to the file's size;
 *    the file's hash is the hash of its block list;
 *  - the live tree is a tree: every live entry's folders are live folders; paths are valid.
 * It only reads (the stores are opened as the server opens them, which may create their
 * tables in an empty dir; a missing `meta.db` is reported, not created).
 */
export async function checkDataDir(dataDir: string, openDatabase: (file: string) => SqlDatabase): Promise<FsckReport> {
  const report: FsckReport = { problems: [], entries: 0, files: 0, dirs: 0, blocks: 0, bytes: 0, head: 0 };
  let dropped = 0;
  const problem = (text: string) => {
    if (report.problems.length < MAX_LISTED) report.problems.push(text);
    else dropped++;
  };
  const root = path.resolve(dataDir);
  const metaFile = path.join(root, "meta.db");
  if (!(await exists(metaFile))) {
    report.problems.push(`Cannot check "${root}": there is no meta.db in it (is it a dropsim data dir?)`);
    return report;
  }

  const db = openDatabase(metaFile);
  const meta = new SqlMetaStore(db);
  const blocksDir = path.join(root, "blocks");
  const haveBlockStore = await exists(path.join(blocksDir, "index.db"));
  let blockDb: SqlDatabase | undefined;
  let blocks: PackBlockStore | undefined;
  try {
    if (haveBlockStore) {
      blockDb = openDatabase(path.join(blocksDir, "index.db"));
      blocks = await PackBlockStore.open(blocksDir, blockDb);
    }

    // Journal ↔ entries.
    const dangling = db
      .prepare("SELECT e.path AS path, e.seq AS seq FROM entries e LEFT JOIN journal j ON j.seq = e.seq WHERE j.seq IS NULL")
      .all<{ path: string; seq: number }>();
    for (const d of dangling) problem(`Entry "${d.path}" points at journal row ${d.seq}, which does not exist`);
    const mismatched = db
      .prepare("SELECT e.path AS path, e.seq AS seq, j.path AS jpath FROM entries e JOIN journal j ON j.seq = e.seq WHERE j.path <> e.path")
      .all<{ path: string; seq: number; jpath: string }>();
    for (const m of mismatched) problem(`Entry "${m.path}" points at journal row ${m.seq}, which is about "${m.jpath}"`);
    // The newest journal row of each path must be its entry (grouped once, compared here).
    const pointer = new Map<string, number>();
    for (const e of db.prepare("SELECT path, seq FROM entries").all<{ path: string; seq: number }>()) pointer.set(e.path, e.seq);
    for (const j of db.prepare("SELECT path, MAX(seq) AS seq FROM journal GROUP BY path").all<{ path: string; seq: number }>()) {
      const at = pointer.get(j.path);
      if (at === undefined) problem(`Journal row ${j.seq} is about "${j.path}", which has no entry`);
      else if (at !== j.seq) problem(`Entry "${j.path}" points at journal row ${at}, but the newest row for that path is ${j.seq}`);
    }

    // Current entries.
    const current = db
      .prepare("SELECT j.seq, j.path, j.kind, j.size, j.hash, j.blocks, j.deleted, j.target FROM entries e JOIN journal j ON j.seq = e.seq AND j.path = e.path ORDER BY j.path")
      .all<JournalRow>();
    const live = new Map<string, JournalRow>();
    for (const row of current) if (row.deleted === 0) live.set(row.path, row);
    report.entries = live.size;

    const indexGet = blockDb?.prepare("SELECT hash, pack, offset, size FROM blocks WHERE hash = ?");
    const packSizes = new Map<number, number>();
    const packSize = async (id: number): Promise<number> => {
      let size = packSizes.get(id);
      if (size === undefined) {
        const file = path.join(blocksDir, "packs", `${String(id).padStart(6, "0")}.pack`);
        size = await fs.stat(file).then(
          (st) => st.size,
          () => -1,
        );
        packSizes.set(id, size);
      }
      return size;
    };
    /** Verdict per block hash, so a block shared by many files is read once. */
    const checked = new Map<string, string | undefined>();
    const checkBlock = async (hash: string, size: number): Promise<string | undefined> => {
      if (checked.has(hash)) return checked.get(hash);
      let verdict: string | undefined;
      const loc = indexGet?.get<IndexRow>(hash);
      if (!loc || !blocks) verdict = `block ${short(hash)} is not in the block store`;
      else if (loc.size !== size) verdict = `block ${short(hash)} is ${size} bytes in the entry but ${loc.size} in the block index`;
      else {
        const packBytes = await packSize(loc.pack);
        if (packBytes < 0) verdict = `block ${short(hash)} is in pack ${loc.pack}, which does not exist`;
        else if (loc.offset + loc.size > packBytes) {
          verdict = `block ${short(hash)} ends at byte ${loc.offset + loc.size} of pack ${loc.pack}, which has only ${packBytes}`;
        } else {
          try {
            const bytes = await blocks.get(hash);
            if (!bytes) verdict = `block ${short(hash)} is not in the block store`;
            else if (hashBlock(bytes) !== hash) verdict = `the bytes of block ${short(hash)} do not hash to its name (pack ${loc.pack}, offset ${loc.offset})`;
            else {
              report.blocks++;
              report.bytes += bytes.length;
            }
          } catch (e) {
            verdict = `block ${short(hash)} cannot be read: ${describeError(e)}`;
          }
        }
      }
      checked.set(hash, verdict);
      return verdict;
    };

    for (const row of live.values()) {
      const pathProblem = wirePathProblem(row.path);
      if (pathProblem) problem(`Entry "${row.path}" has an invalid path: ${pathProblem}`);
      for (const a of ancestorsOf(row.path)) {
        const parent = live.get(a);
        if (!parent) problem(`Entry "${row.path}" is live but its folder "${a}" is not`);
        else if (parent.kind !== "dir") problem(`Entry "${row.path}" is inside "${a}", which is a ${parent.kind}, not a folder`);
      }
      if (row.kind === "dir") {
        report.dirs++;
        if (row.blocks !== "[]" || row.size !== 0) problem(`Folder "${row.path}" (version ${row.seq}) has content: size ${row.size}, blocks ${row.blocks.slice(0, 80)}`);
        continue;
      }
      if (row.kind === "symlink") {
        const targetProblem = row.target === null ? "it has no target" : symlinkTargetProblem(row.target);
        const expected = row.target === null ? undefined : symlinkContent(row.target);
        if (targetProblem) problem(`Symlink "${row.path}" (version ${row.seq}) is invalid: ${targetProblem}`);
        else if (row.blocks !== "[]" || row.size !== expected!.size || row.hash !== expected!.hash) {
          problem(`Symlink "${row.path}" (version ${row.seq}) does not match its target: size ${row.size}, hash ${row.hash.slice(0, 12)}…`);
        }
        continue;
      }
      if (row.kind !== "file") {
        problem(`Entry "${row.path}" (version ${row.seq}) has an unknown kind "${row.kind}"`);
        continue;
      }
      report.files++;
      let refs: [string, number][];
      try {
        refs = JSON.parse(row.blocks) as [string, number][];
        if (!Array.isArray(refs)) throw new Error("not a list");
      } catch (e) {
        problem(`File "${row.path}" (version ${row.seq}) has an unreadable block list: ${describeError(e)}`);
        continue;
      }
      let total = 0;
      for (const ref of refs) {
        const [hash, size] = Array.isArray(ref) ? ref : [];
        if (typeof hash !== "string" || typeof size !== "number") {
          problem(`File "${row.path}" (version ${row.seq}) has a malformed block reference ${JSON.stringify(ref).slice(0, 100)}`);
          continue;
        }
        total += size;
        const verdict = await checkBlock(hash, size);
        if (verdict) problem(`File "${row.path}" (version ${row.seq}): ${verdict}`);
      }
      if (total !== row.size) problem(`File "${row.path}" (version ${row.seq}) is ${row.size} bytes, but its blocks add up to ${total}`);
      const listHash = hashBlockList(refs.filter((r) => Array.isArray(r) && typeof r[0] === "string").map((r) => r[0]));
      if (listHash !== row.hash) problem(`File "${row.path}" (version ${row.seq}) has hash ${short(row.hash)}, but its block list hashes to ${short(listHash)}`);
    }

    // Every indexed block lies inside its pack (a block the index promises but the pack lost).
    if (blockDb) {
      for (const loc of blockDb.prepare("SELECT hash, pack, offset, size FROM blocks").all<IndexRow>()) {
        const packBytes = await packSize(loc.pack);
        if (packBytes < 0) problem(`Block index lists ${short(loc.hash)} in pack ${loc.pack}, which does not exist`);
        else if (loc.offset + loc.size > packBytes) problem(`Block index lists ${short(loc.hash)} at bytes ${loc.offset}–${loc.offset + loc.size} of pack ${loc.pack}, which has only ${packBytes}`);
      }
    }
    report.head = meta.head();
  } finally {
    if (blocks) await blocks.close();
    else blockDb?.close();
    meta.close();
  }
  if (dropped > 0) report.problems.push(`… and ${dropped} more problems`);
  return report;
}

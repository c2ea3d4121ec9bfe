import { hashBlock, hashBlockList } from "../core/block-hash.ts";
import { type Entry, symlinkContent, symlinkTargetProblem } from "../core/entry.ts";
import { describeError } from "../core/errors.ts";
import { ancestorsOf, wirePathProblem } from "../core/wire-path.ts";
import type { Runtime } from "../runtime/types.ts";
import type { BlockStore } from "../store/block-store.ts";
import type { MetaStore } from "../store/meta-store.ts";
import { openStores } from "../store/open.ts";

/** What `checkDataDir` found: `problems` is empty when the data dir is consistent. */
export interface FsckReport {
  problems: string[];
  entries: number;
  files: number;
  dirs: number;
  /** Distinct blocks referenced by current entries, and their bytes (each counted once). */
  blocks: number;
  bytes: number;
  /** The journal's last sequence number (the sum over shares when there are several). */
  head: number;
}

/** More problems than this are counted but not listed: a broken store should not print a million lines. */
const MAX_LISTED = 200;
/** Current entries read per page, and hashes asked per `missing` call. */
const PAGE = 1000;

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}

/**
 * Reads a server's stores and reports every way they are inconsistent, in plain words, through
 * the store interfaces only (so any backend can be checked) plus each backend's own `check()`:
 *  - every current file's blocks are in the block store and their bytes hash to their names;
 *    block sizes add up to the file's size; the file's hash is the hash of its block list;
 *  - the live tree is a tree: every live entry's folders are live folders; paths are valid;
 *    folders have no content, symlinks match their target;
 *  - every block an older retained version (history, trash) refers to is in the block store
 *    (present only: reading every version's bytes would cost as much as the whole history).
 * It only reads: a location that holds no data dir is reported, not created, and one from
 * before shares is read where it is (the stores still bring their schemas up to date, as the
 * server would).
 */
export async function checkDataDir(location: string, runtime: Pick<Runtime, "openDatabase">): Promise<FsckReport> {
  const report: FsckReport = { problems: [], entries: 0, files: 0, dirs: 0, blocks: 0, bytes: 0, head: 0 };
  let dropped = 0;
  const problem = (text: string) => {
    if (report.problems.length < MAX_LISTED) report.problems.push(text);
    else dropped++;
  };
  let stores;
  try {
    stores = await openStores(location, runtime, { inspect: true });
  } catch (e) {
    report.problems.push(describeError(e));
    return report;
  }
  try {
    for (const p of await stores.check()) problem(p);
    for (const name of stores.shareNames()) {
      /** Verdict per block hash, so a block shared by many files is read once; each share has its own blocks. */
      const verdicts = new Map<string, string | undefined>();
      const { meta, blocks } = stores.share(name)!;
      const lead = stores.shareNames().length > 1 ? `Share "${name}": ` : "";
      const live = await _liveEntries(meta, (text) => problem(lead + text));
      report.head += await meta.head();
      await _checkBlocks(blocks, live.values(), verdicts, report);
      _checkEntries(live, verdicts, report, (text) => problem(lead + text));
      await _checkHistoryBlocks(meta, blocks, verdicts, (text) => problem(lead + text));
    }
  } finally {
    await stores.close();
  }
  if (dropped > 0) report.problems.push(`… and ${dropped} more problems`);
  return report;
}

/** The live current entries by path, read page by page in journal order. */
async function _liveEntries(meta: MetaStore, problem: (text: string) => void): Promise<Map<string, Entry>> {
  const live = new Map<string, Entry>();
  let since = 0;
  try {
    for (;;) {
      const page = await meta.changesSince(since, PAGE);
      for (const e of page) {
        if (e.deleted) live.delete(e.path);
        else live.set(e.path, e);
      }
      if (page.length < PAGE) break;
      since = page[page.length - 1]!.version;
    }
  } catch (e) {
    problem(`Cannot read the current entries after journal row ${since}: ${describeError(e)}`);
  }
  return live;
}

/** Reads every block the files refer to once, and records its verdict (undefined when sound). */
async function _checkBlocks(blocks: BlockStore, live: Iterable<Entry>, verdicts: Map<string, string | undefined>, report: FsckReport): Promise<void> {
  const wanted = new Map<string, number>();
  for (const e of live) {
    if (e.kind !== "file" || !Array.isArray(e.blocks)) continue;
    for (const ref of e.blocks) if (_isRef(ref) && !verdicts.has(ref[0])) wanted.set(ref[0], ref[1]);
  }
  const hashes = [...wanted.keys()];
  for (let i = 0; i < hashes.length; i += PAGE) {
    for (const h of await blocks.missing(hashes.slice(i, i + PAGE))) verdicts.set(h, `block ${short(h)} is not in the block store`);
  }
  for (const [hash, size] of wanted) {
    if (verdicts.has(hash)) continue;
    let verdict: string | undefined;
    try {
      const bytes = await blocks.get(hash);
      if (!bytes) verdict = `block ${short(hash)} is not in the block store`;
      else if (bytes.length !== size) verdict = `block ${short(hash)} is ${size} bytes in the entry but ${bytes.length} in the block store`;
      else if (hashBlock(bytes) !== hash) verdict = `the bytes of block ${short(hash)} do not hash to its name`;
      else {
        report.blocks++;
        report.bytes += bytes.length;
      }
    } catch (e) {
      verdict = `block ${short(hash)} cannot be read: ${describeError(e)}`;
    }
    verdicts.set(hash, verdict);
  }
}

/**
 * Blocks of retained rows that no current entry refers to must exist too: a restore brings
 * them back. Read in a transaction that appends nothing (beside a server it waits its turn).
 */
async function _checkHistoryBlocks(meta: MetaStore, blocks: BlockStore, verdicts: Map<string, string | undefined>, problem: (text: string) => void): Promise<void> {
  let referenced: Set<string>;
  try {
    referenced = await meta.transaction({ clientId: "fsck", at: Date.now() }, (tx) => tx.referencedBlocks());
  } catch (e) {
    problem(`Cannot read the blocks the journal refers to: ${describeError(e)}`);
    return;
  }
  const older = [...referenced].filter((h) => !verdicts.has(h));
  for (let i = 0; i < older.length; i += PAGE) {
    for (const h of await blocks.missing(older.slice(i, i + PAGE))) problem(`Block ${short(h)} of an older version kept in history is not in the block store`);
  }
}

function _isRef(ref: unknown): ref is [string, number] {
  return Array.isArray(ref) && typeof ref[0] === "string" && typeof ref[1] === "number";
}

function _checkEntries(live: Map<string, Entry>, verdicts: Map<string, string | undefined>, report: FsckReport, problem: (text: string) => void): void {
  report.entries += live.size;
  for (const e of live.values()) {
    const pathProblem = wirePathProblem(e.path);
    if (pathProblem) problem(`Entry "${e.path}" has an invalid path: ${pathProblem}`);
    for (const a of ancestorsOf(e.path)) {
      const parent = live.get(a);
      if (!parent) problem(`Entry "${e.path}" is live but its folder "${a}" is not`);
      else if (parent.kind !== "dir") problem(`Entry "${e.path}" is inside "${a}", which is a ${parent.kind}, not a folder`);
    }
    if (e.kind === "dir") {
      report.dirs++;
      if (e.blocks.length !== 0 || e.size !== 0) problem(`Folder "${e.path}" (version ${e.version}) has content: size ${e.size}, blocks ${JSON.stringify(e.blocks).slice(0, 80)}`);
    } else if (e.kind === "symlink") {
      const targetProblem = e.target === undefined ? "it has no target" : symlinkTargetProblem(e.target);
      const expected = e.target === undefined ? undefined : symlinkContent(e.target);
      if (targetProblem) problem(`Symlink "${e.path}" (version ${e.version}) is invalid: ${targetProblem}`);
      else if (e.blocks.length !== 0 || e.size !== expected!.size || e.hash !== expected!.hash) {
        problem(`Symlink "${e.path}" (version ${e.version}) does not match its target: size ${e.size}, hash ${short(e.hash)}`);
      }
    } else if (e.kind === "file") {
      report.files++;
      _checkFile(e, verdicts, problem);
    } else {
      problem(`Entry "${e.path}" (version ${e.version}) has an unknown kind "${e.kind as string}"`);
    }
  }
}

function _checkFile(e: Entry, verdicts: Map<string, string | undefined>, problem: (text: string) => void): void {
  if (!Array.isArray(e.blocks)) {
    problem(`File "${e.path}" (version ${e.version}) has an unreadable block list: not a list`);
    return;
  }
  let total = 0;
  for (const ref of e.blocks) {
    if (!_isRef(ref)) {
      problem(`File "${e.path}" (version ${e.version}) has a malformed block reference ${JSON.stringify(ref).slice(0, 100)}`);
      continue;
    }
    total += ref[1];
    const verdict = verdicts.get(ref[0]);
    if (verdict) problem(`File "${e.path}" (version ${e.version}): ${verdict}`);
  }
  if (total !== e.size) problem(`File "${e.path}" (version ${e.version}) is ${e.size} bytes, but its blocks add up to ${total}`);
  const listHash = hashBlockList(e.blocks.filter(_isRef).map((r) => r[0]));
  if (listHash !== e.hash) problem(`File "${e.path}" (version ${e.version}) has hash ${short(e.hash)}, but its block list hashes to ${short(listHash)}`);
}

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { conflictName } from "../../src/core/conflict-name.ts";
import { type Content, type Entry, normalMode, sameContent, symlinkContent } from "../../src/core/entry.ts";
import { type Action, planPath, reconcile } from "../../src/core/reconcile.ts";
import { ancestorsOf, depthOf, isInside, parentOf } from "../../src/core/wire-path.ts";

// ---------------------------------------------------------------------------------------------
// Fixtures

const file = (hash: string, mode = 0o644): Content => ({ kind: "file", size: hash.length, mode, hash, blocks: [] });
const dir = (mode = 0o755): Content => ({ kind: "dir", size: 0, mode, hash: "", blocks: [] });
const entry = (path: string, c: Content, version: number): Entry => ({ ...c, path, version, deleted: false, mtime: 0 });
const tomb = (path: string, kind: Content["kind"], version: number): Entry => ({
  path,
  kind,
  size: 0,
  mode: kind === "dir" ? 0o755 : 0o644,
  hash: "",
  blocks: [],
  version,
  deleted: true,
  mtime: 0,
});

const P = "docs/report.txt";
const S = file("synced-bytes");
const R = file("remote-bytes");
const L = file("local-bytes");

type Expect = { type: Action["type"]; baseVersion?: number; entry?: "remote" };

function check(action: Action, want: Expect, remote: Entry | undefined): void {
  expect(action.type).toBe(want.type);
  expect(action.path).toBe(P);
  if (want.baseVersion !== undefined) expect(action).toMatchObject({ baseVersion: want.baseVersion });
  if (want.entry === "remote") expect((action as { entry: Entry }).entry).toBe(remote!);
  if (action.type === "none") expect(Object.keys(action).sort()).toEqual(["path", "type"]);
}

/** [name, synced, remote, local, expected] */
type PlanRow = [string, Entry | undefined, Entry | undefined, Content | undefined, Expect];

/** One `planPath` test per row. */
function testPlanRows(rows: PlanRow[]): void {
  test.each(rows)("planPath with %s", (_name, synced, remote, local, want) => {
    check(planPath(P, remote, local, synced), want, remote);
  });
}

// ---------------------------------------------------------------------------------------------
// planPath: files

describe("planPath for files", () => {
  const syncedPresent = entry(P, S, 1);
  const syncedTomb = tomb(P, "file", 1);

  const rows: PlanRow[] = [
    // synced absent
    ["synced absent, remote none, local absent", undefined, undefined, undefined, { type: "none" }],
    ["synced absent, remote none, local new", undefined, undefined, L, { type: "upload", baseVersion: 0 }],
    ["synced absent, remote new, local absent", undefined, entry(P, R, 2), undefined, { type: "download", entry: "remote" }],
    ["synced absent, remote new, local different", undefined, entry(P, R, 2), L, { type: "conflict_copy", entry: "remote" }],
    ["synced absent, remote new, local same as remote", undefined, entry(P, R, 2), R, { type: "record", entry: "remote" }],
    ["synced absent, remote deleted, local absent", undefined, tomb(P, "file", 2), undefined, { type: "record", entry: "remote" }],
    ["synced absent, remote deleted, local new", undefined, tomb(P, "file", 2), L, { type: "upload", baseVersion: 2 }],
    // synced present, remote without news (none, or the synced version itself)
    ["synced present, remote none, local absent", syncedPresent, undefined, undefined, { type: "delete_remote", baseVersion: 1 }],
    ["synced present, remote none, local unchanged", syncedPresent, undefined, S, { type: "none" }],
    ["synced present, remote none, local changed", syncedPresent, undefined, L, { type: "upload", baseVersion: 1 }],
    ["synced present, remote none, local made executable", syncedPresent, undefined, file("synced-bytes", 0o755), { type: "upload", baseVersion: 1 }],
    ["synced present, remote none, local chmod 600", syncedPresent, undefined, file("synced-bytes", 0o600), { type: "none" }],
    ["synced present, remote none, local replaced by a folder", syncedPresent, undefined, dir(), { type: "upload", baseVersion: 1 }],
    ["synced present, remote same, local absent", syncedPresent, syncedPresent, undefined, { type: "delete_remote", baseVersion: 1 }],
    ["synced present, remote same, local unchanged", syncedPresent, syncedPresent, S, { type: "none" }],
    ["synced present, remote same, local changed", syncedPresent, syncedPresent, L, { type: "upload", baseVersion: 1 }],
    ["synced present, remote same (equal copy), local unchanged", syncedPresent, entry(P, S, 1), S, { type: "none" }],
    // synced present, remote news older than synced: a late push of our own earlier commit
    // (seen with a file still being written: the client conflicted with itself and wrote the
    // older version over the newer one)
    ["synced present, remote older, local unchanged", entry(P, S, 5), entry(P, R, 3), S, { type: "none" }],
    ["synced present, remote older, local changed", entry(P, S, 5), entry(P, R, 3), L, { type: "upload", baseVersion: 5 }],
    ["synced present, remote older tombstone, local unchanged", entry(P, S, 5), tomb(P, "file", 3), S, { type: "none" }],
    ["synced tombstone, remote older, local absent", tomb(P, "file", 5), entry(P, R, 3), undefined, { type: "none" }],
    // synced present, remote changed
    ["synced present, remote changed, local absent", syncedPresent, entry(P, R, 2), undefined, { type: "download", entry: "remote" }],
    ["synced present, remote changed, local unchanged", syncedPresent, entry(P, R, 2), S, { type: "download", entry: "remote" }],
    ["synced present, remote changed, local changed", syncedPresent, entry(P, R, 2), L, { type: "conflict_copy", entry: "remote" }],
    ["synced present, remote changed, local same as remote", syncedPresent, entry(P, R, 2), R, { type: "record", entry: "remote" }],
    ["synced present, remote rewritten with equal bytes, local unchanged", syncedPresent, entry(P, S, 2), S, { type: "record", entry: "remote" }],
    ["synced present, remote rewritten with equal bytes, local changed", syncedPresent, entry(P, S, 2), L, { type: "conflict_copy", entry: "remote" }],
    ["synced present, remote made executable, local unchanged", syncedPresent, entry(P, file("synced-bytes", 0o755), 2), S, { type: "download", entry: "remote" }],
    ["synced present, remote replaced by a folder, local unchanged", syncedPresent, entry(P, dir(), 2), S, { type: "download", entry: "remote" }],
    ["synced present, remote replaced by a folder, local changed", syncedPresent, entry(P, dir(), 2), L, { type: "conflict_copy", entry: "remote" }],
    // synced present, remote deleted
    ["synced present, remote deleted, local absent", syncedPresent, tomb(P, "file", 2), undefined, { type: "record", entry: "remote" }],
    ["synced present, remote deleted, local unchanged", syncedPresent, tomb(P, "file", 2), S, { type: "delete_local", entry: "remote" }],
    ["synced present, remote deleted, local changed", syncedPresent, tomb(P, "file", 2), L, { type: "upload", baseVersion: 2 }],
    // synced tombstone
    ["synced tombstone, remote none, local absent", syncedTomb, undefined, undefined, { type: "none" }],
    ["synced tombstone, remote none, local new", syncedTomb, undefined, L, { type: "upload", baseVersion: 1 }],
    ["synced tombstone, remote same, local absent", syncedTomb, syncedTomb, undefined, { type: "none" }],
    ["synced tombstone, remote same, local new", syncedTomb, syncedTomb, L, { type: "upload", baseVersion: 1 }],
    ["synced tombstone, remote recreated, local absent", syncedTomb, entry(P, R, 2), undefined, { type: "download", entry: "remote" }],
    ["synced tombstone, remote recreated, local new", syncedTomb, entry(P, R, 2), L, { type: "conflict_copy", entry: "remote" }],
    ["synced tombstone, remote recreated, local same as remote", syncedTomb, entry(P, R, 2), R, { type: "record", entry: "remote" }],
    ["synced tombstone, remote deleted again, local absent", syncedTomb, tomb(P, "file", 3), undefined, { type: "record", entry: "remote" }],
    ["synced tombstone, remote deleted again, local new", syncedTomb, tomb(P, "file", 3), L, { type: "upload", baseVersion: 3 }],
  ];

  testPlanRows(rows);

  test("planPath never drops changed local bytes in any of the 48 remote × local × synced combinations", () => {
    const synceds = [undefined, syncedPresent, syncedTomb];
    let n = 0;
    for (const synced of synceds) {
      const remotes = [undefined, synced, entry(P, R, 5), tomb(P, "file", 5)];
      const locals = [undefined, synced && !synced.deleted ? S : undefined, L, R];
      for (const remote of remotes)
        for (const local of locals) {
          const a = planPath(P, remote, local, synced);
          n++;
          // Whatever happens, nobody's changed bytes are dropped.
          const localChanged = !sameContent(local, synced && !synced.deleted ? synced : undefined);
          if (localChanged && local) expect(["upload", "conflict_copy", "record"]).toContain(a.type);
          if (a.type === "record") expect(sameContent(local, a.entry.deleted ? undefined : a.entry)).toBe(true);
          if (a.type === "upload" || a.type === "delete_remote") expect(a.baseVersion).toBe(remote?.version ?? synced?.version ?? 0);
        }
    }
    expect(n).toBe(48);
  });
});

// ---------------------------------------------------------------------------------------------
// planPath: folders and kind changes

describe("planPath for folders", () => {
  const syncedDir = entry(P, dir(), 1);
  const rows: PlanRow[] = [
    ["synced absent, remote none, local new folder", undefined, undefined, dir(), { type: "upload", baseVersion: 0 }],
    ["synced absent, remote new folder, local absent", undefined, entry(P, dir(), 2), undefined, { type: "download", entry: "remote" }],
    ["synced absent, remote new folder, local new folder", undefined, entry(P, dir(), 2), dir(), { type: "record", entry: "remote" }],
    ["synced absent, remote new folder, local new file", undefined, entry(P, dir(), 2), L, { type: "conflict_copy", entry: "remote" }],
    ["synced absent, remote new file, local new folder", undefined, entry(P, R, 2), dir(), { type: "conflict_copy", entry: "remote" }],
    ["synced folder, remote none, local absent", syncedDir, undefined, undefined, { type: "delete_remote", baseVersion: 1 }],
    ["synced folder, remote none, local folder", syncedDir, undefined, dir(), { type: "none" }],
    ["synced folder, remote none, local folder with other mode", syncedDir, undefined, dir(0o700), { type: "none" }],
    ["synced folder, remote none, local replaced by a file", syncedDir, undefined, L, { type: "upload", baseVersion: 1 }],
    ["synced folder, remote deleted, local folder", syncedDir, tomb(P, "dir", 2), dir(), { type: "delete_local", entry: "remote" }],
    ["synced folder, remote deleted, local absent", syncedDir, tomb(P, "dir", 2), undefined, { type: "record", entry: "remote" }],
    ["synced folder, remote deleted, local replaced by a file", syncedDir, tomb(P, "dir", 2), L, { type: "upload", baseVersion: 2 }],
    ["synced folder, remote recreated folder, local folder", syncedDir, entry(P, dir(), 2), dir(), { type: "record", entry: "remote" }],
    ["synced folder, remote recreated folder, local absent", syncedDir, entry(P, dir(), 2), undefined, { type: "download", entry: "remote" }],
    ["synced folder, remote replaced by a file, local folder", syncedDir, entry(P, R, 2), dir(), { type: "download", entry: "remote" }],
    ["synced folder, remote replaced by a file, local replaced by a file", syncedDir, entry(P, R, 2), L, { type: "conflict_copy", entry: "remote" }],
    ["synced folder, remote replaced by a file, local same file", syncedDir, entry(P, R, 2), R, { type: "record", entry: "remote" }],
    ["synced file, remote replaced by a folder, local folder", entry(P, S, 1), entry(P, dir(), 2), dir(), { type: "record", entry: "remote" }],
    ["synced folder tombstone, remote none, local folder", tomb(P, "dir", 1), undefined, dir(), { type: "upload", baseVersion: 1 }],
  ];

  testPlanRows(rows);
});

// ---------------------------------------------------------------------------------------------
// planPath: symlinks (content = the target; a link is a leaf, never a folder)

describe("planPath for symlinks", () => {
  const link = symlinkContent;
  const syncedLink = entry(P, link("synced/target"), 1);
  const rows: PlanRow[] = [
    ["synced absent, remote none, local new symlink", undefined, undefined, link("/etc"), { type: "upload", baseVersion: 0 }],
    ["synced absent, remote new symlink, local absent", undefined, entry(P, link("../x"), 2), undefined, { type: "download", entry: "remote" }],
    ["synced absent, remote new symlink, local same target", undefined, entry(P, link("../x"), 2), link("../x"), { type: "record", entry: "remote" }],
    ["synced absent, remote new symlink, local other target", undefined, entry(P, link("../x"), 2), link("../y"), { type: "conflict_copy", entry: "remote" }],
    ["synced absent, remote new folder, local new symlink", undefined, entry(P, dir(), 2), link("/etc"), { type: "conflict_copy", entry: "remote" }],
    ["synced symlink, remote none, local unchanged", syncedLink, undefined, link("synced/target"), { type: "none" }],
    ["synced symlink, remote none, local retargeted", syncedLink, undefined, link("elsewhere"), { type: "upload", baseVersion: 1 }],
    ["synced symlink, remote none, local removed", syncedLink, undefined, undefined, { type: "delete_remote", baseVersion: 1 }],
    ["synced symlink, remote retargeted, local unchanged", syncedLink, entry(P, link("new"), 2), link("synced/target"), { type: "download", entry: "remote" }],
    ["synced symlink, remote retargeted, local retargeted alike", syncedLink, entry(P, link("new"), 2), link("new"), { type: "record", entry: "remote" }],
    ["synced symlink, remote retargeted, local retargeted otherwise", syncedLink, entry(P, link("new"), 2), link("mine"), { type: "conflict_copy", entry: "remote" }],
    ["synced symlink, remote deleted, local unchanged", syncedLink, tomb(P, "symlink", 2), link("synced/target"), { type: "delete_local", entry: "remote" }],
    ["synced symlink, remote deleted, local retargeted", syncedLink, tomb(P, "symlink", 2), link("mine"), { type: "upload", baseVersion: 2 }],
    ["synced symlink, remote replaced by a file, local unchanged", syncedLink, entry(P, R, 2), link("synced/target"), { type: "download", entry: "remote" }],
    ["synced symlink, remote none, local replaced by a file", syncedLink, undefined, L, { type: "upload", baseVersion: 1 }],
    ["synced file, remote none, local replaced by a symlink", entry(P, S, 1), undefined, link("/etc/hostname"), { type: "upload", baseVersion: 1 }],
    ["synced file, remote replaced by a symlink, local unchanged", entry(P, S, 1), entry(P, link("x"), 2), S, { type: "download", entry: "remote" }],
    ["synced folder, remote replaced by a symlink, local folder", entry(P, dir(), 1), entry(P, link("x"), 2), dir(), { type: "download", entry: "remote" }],
  ];

  testPlanRows(rows);
});

// ---------------------------------------------------------------------------------------------
// planPath: extended attributes (part of a file's content; the blocks stay the same)

describe("planPath for extended attributes", () => {
  const red = { ...S, xattrs: [["user.color", "cmVk"]] as const };
  const blue = { ...S, xattrs: [["user.color", "Ymx1ZQ=="]] as const };
  const synced = entry(P, red, 1);
  const rows: PlanRow[] = [
    ["synced tagged, remote none, local unchanged", synced, undefined, red, { type: "none" }],
    ["synced tagged, remote none, local retagged", synced, undefined, blue, { type: "upload", baseVersion: 1 }],
    ["synced tagged, remote none, local untagged", synced, undefined, S, { type: "upload", baseVersion: 1 }],
    ["synced untagged, remote none, local tagged", entry(P, S, 1), undefined, red, { type: "upload", baseVersion: 1 }],
    ["synced tagged, remote retagged, local unchanged", synced, entry(P, blue, 2), red, { type: "download", entry: "remote" }],
    ["synced tagged, remote untagged, local unchanged", synced, entry(P, S, 2), red, { type: "download", entry: "remote" }],
    ["synced tagged, remote retagged, local retagged alike", synced, entry(P, blue, 2), blue, { type: "record", entry: "remote" }],
    ["synced tagged, remote retagged, local edited", synced, entry(P, blue, 2), { ...L, xattrs: red.xattrs }, { type: "conflict_copy", entry: "remote" }],
  ];

  testPlanRows(rows);
});

// ---------------------------------------------------------------------------------------------
// reconcile: union of paths and ordering

function indexOf(plan: Action[], path: string): number {
  const i = plan.findIndex((a) => a.path === path);
  expect(i).toBeGreaterThanOrEqual(0);
  return i;
}

const isRemoval = (a: Action) => a.type === "delete_local" || a.type === "delete_remote";

/**
 * The structural invariants of a plan: whatever is removed inside a folder is removed before
 * anything happens to the folder itself (removal, or replacement by a file); a folder that is
 * written comes before anything written inside it.
 */
function assertOrdered(plan: Action[]): void {
  for (let i = 0; i < plan.length; i++)
    for (let j = 0; j < plan.length; j++) {
      const a = plan[i]!;
      const b = plan[j]!;
      if (!isInside(b.path, a.path)) continue; // b is inside a
      if (isRemoval(b)) expect(j).toBeLessThan(i);
      else if (!isRemoval(a)) expect(i).toBeLessThan(j);
    }
}

describe("reconcile", () => {
  test("reconcile of three empty trees plans nothing", () => {
    expect(reconcile(new Map(), new Map(), new Map())).toEqual([]);
  });

  test("reconcile of agreeing trees plans nothing", () => {
    const synced = new Map<string, Entry>([
      ["a", entry("a", dir(), 1)],
      ["a/f", entry("a/f", S, 2)],
      ["gone", tomb("gone", "file", 3)],
    ]);
    const local = new Map<string, Content>([
      ["a", dir()],
      ["a/f", S],
    ]);
    expect(reconcile(synced, local, synced)).toEqual([]);
    expect(reconcile(new Map(), local, synced)).toEqual([]);
  });

  test("reconcile plans every path in the union of the three trees", () => {
    const remote = new Map<string, Entry>([["r", entry("r", R, 5)]]);
    const local = new Map<string, Content>([["l", L]]);
    const synced = new Map<string, Entry>([["s", entry("s", S, 1)]]);
    const plan = reconcile(remote, local, synced);
    expect(plan.map((a) => [a.path, a.type]).sort()).toEqual([
      ["l", "upload"],
      ["r", "download"],
      ["s", "delete_remote"],
    ]);
  });

  test("reconcile creates folders before their children and deletes children before their folders", () => {
    const remote = new Map<string, Entry>();
    const local = new Map<string, Content>();
    const synced = new Map<string, Entry>();
    let v = 1;
    // Listed deepest first, so insertion order cannot produce the right answer by accident.
    for (const p of ["down/b/c.txt", "down/b", "down"]) remote.set(p, entry(p, p.endsWith(".txt") ? R : dir(), 100 + v++));
    for (const p of ["up/b/c.txt", "up/b", "up"]) local.set(p, p.endsWith(".txt") ? L : dir());
    for (const p of ["rm-local", "rm-local/b", "rm-local/b/c.txt", "rm-remote", "rm-remote/b", "rm-remote/b/c.txt"]) {
      const c = p.endsWith(".txt") ? S : dir();
      synced.set(p, entry(p, c, v++));
      if (p.startsWith("rm-local")) {
        local.set(p, c);
        remote.set(p, tomb(p, c.kind, 100 + v++));
      }
    }
    const plan = reconcile(remote, local, synced);
    expect(plan.length).toBe(12);
    assertOrdered(plan);
    expect(indexOf(plan, "down")).toBeLessThan(indexOf(plan, "down/b"));
    expect(indexOf(plan, "down/b")).toBeLessThan(indexOf(plan, "down/b/c.txt"));
    expect(indexOf(plan, "up")).toBeLessThan(indexOf(plan, "up/b/c.txt"));
    expect(indexOf(plan, "rm-local/b/c.txt")).toBeLessThan(indexOf(plan, "rm-local/b"));
    expect(indexOf(plan, "rm-local/b")).toBeLessThan(indexOf(plan, "rm-local"));
    expect(indexOf(plan, "rm-remote/b/c.txt")).toBeLessThan(indexOf(plan, "rm-remote"));
    expect(plan.find((a) => a.path === "rm-remote")).toEqual({ type: "delete_remote", path: "rm-remote", baseVersion: synced.get("rm-remote")!.version });
  });

  test("reconcile empties a folder before a remote file replaces it", () => {
    const synced = new Map<string, Entry>([
      ["a", entry("a", dir(), 1)],
      ["a/x", entry("a/x", S, 2)],
    ]);
    const remote = new Map<string, Entry>([
      ["a/x", tomb("a/x", "file", 3)],
      ["a", entry("a", R, 5)],
    ]);
    const local = new Map<string, Content>([
      ["a", dir()],
      ["a/x", S],
    ]);
    expect(reconcile(remote, local, synced).map((a) => `${a.type} ${a.path}`)).toEqual(["delete_local a/x", "download a"]);
  });

  test("reconcile deletes remote children before uploading a file over their folder", () => {
    const synced = new Map<string, Entry>([
      ["a", entry("a", dir(), 1)],
      ["a/x", entry("a/x", S, 2)],
    ]);
    const local = new Map<string, Content>([["a", L]]);
    expect(reconcile(new Map(), local, synced)).toEqual([
      { type: "delete_remote", path: "a/x", baseVersion: 2 },
      { type: "upload", path: "a", baseVersion: 1 },
    ]);
  });

  test("reconcile keeps a remotely deleted folder that holds a new local file", () => {
    const synced = new Map<string, Entry>([
      ["a", entry("a", dir(), 1)],
      ["a/b", entry("a/b", dir(), 2)],
      ["a/old", entry("a/old", S, 3)],
    ]);
    const remote = new Map<string, Entry>([
      ["a/old", tomb("a/old", "file", 4)],
      ["a/b", tomb("a/b", "dir", 5)],
      ["a", tomb("a", "dir", 6)],
    ]);
    const local = new Map<string, Content>([
      ["a", dir()],
      ["a/b", dir()],
      ["a/b/new", L],
      ["a/old", S],
    ]);
    expect(reconcile(remote, local, synced)).toEqual([
      { type: "delete_local", path: "a/old", entry: remote.get("a/old")! },
      { type: "upload", path: "a", baseVersion: 6 },
      { type: "upload", path: "a/b", baseVersion: 5 },
      { type: "upload", path: "a/b/new", baseVersion: 0 },
    ]);
  });

  test("reconcile moves aside a local folder holding new files when the remote replaced it with a file", () => {
    const synced = new Map<string, Entry>([["a", entry("a", dir(), 1)]]);
    const remote = new Map<string, Entry>([["a", entry("a", R, 2)]]);
    const local = new Map<string, Content>([
      ["a", dir()],
      ["a/x", L],
    ]);
    expect(reconcile(remote, local, synced)).toEqual([
      { type: "conflict_copy", path: "a", entry: remote.get("a")! },
      { type: "upload", path: "a/x", baseVersion: 0 },
    ]);
  });

  test("reconcile still removes a remotely deleted folder whose local children are all deleted too", () => {
    const synced = new Map<string, Entry>([
      ["a", entry("a", dir(), 1)],
      ["a/x", entry("a/x", S, 2)],
    ]);
    const remote = new Map<string, Entry>([
      ["a/x", tomb("a/x", "file", 3)],
      ["a", tomb("a", "dir", 4)],
    ]);
    const local = new Map<string, Content>([
      ["a", dir()],
      ["a/x", S],
    ]);
    expect(reconcile(remote, local, synced).map((a) => `${a.type} ${a.path}`)).toEqual(["delete_local a/x", "delete_local a"]);
  });

  test("reconcile is deterministic whatever the map insertion order", () => {
    const paths = ["b", "a/x", "a", "c/d/e", "c/d", "c"];
    const build = (order: string[]) => {
      const local = new Map<string, Content>();
      for (const p of order) local.set(p, p === "a" || p === "c" || p === "c/d" ? dir() : L);
      return reconcile(new Map(), local, new Map());
    };
    expect(build(paths)).toEqual(build([...paths].reverse()));
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random correlated trees reach a fixed point with no write lost.
//
// The simulation follows the rules real replicas live by: the server is a model of
// server/commit.ts (optimistic concurrency, no file with children, parents auto-created, no
// folder deleted while it has live children); the client's file system cannot put anything
// under a file, cannot remove or replace a folder that still has children, and on a `conflict`
// reply to an upload keeps its bytes as a conflicted copy and takes the server's version
// (DESIGN.md §6). Every action that is allowed by those rules succeeds.

const UNIVERSE = ["a", "a/x", "a/y", "a/y/z", "b", "b/w", "c"];
const CONTENTS: Record<string, Content | undefined> = {
  absent: undefined,
  dir: dir(),
  f1: file("h1"),
  f2: file("h2"),
  f1x: file("h1", 0o755),
  f3: file("h3"),
};
type ContentName = keyof typeof CONTENTS;

interface PathSpec {
  base: ContentName;
  baseTomb: boolean;
  remote: ContentName | "same";
  remoteBump: boolean;
  local: ContentName | "same";
}

const contentName = fc.constantFrom<ContentName>("absent", "dir", "dir", "f1", "f2", "f1x", "f3");
const delta = fc.oneof({ arbitrary: fc.constant<"same">("same"), weight: 3 }, { arbitrary: contentName, weight: 2 });
const pathSpec: fc.Arbitrary<PathSpec> = fc.record({
  base: contentName,
  baseTomb: fc.boolean(),
  remote: delta,
  remoteBump: fc.boolean(),
  local: delta,
});
const worldSpec = fc.tuple(...UNIVERSE.map(() => pathSpec));

interface World {
  server: Map<string, Entry>;
  local: Map<string, Content>;
  synced: Map<string, Entry>;
  head: number;
  copies: number;
  /** Changes the server refused because their base was stale: a planner with a fresh view makes none. */
  stale: number;
}

const live = (e: Entry | undefined) => (e && !e.deleted ? e : undefined);
const contentOf = (e: Entry): Content => ({ kind: e.kind, size: e.size, mode: e.mode, hash: e.hash, blocks: e.blocks });

/** Drops anything whose parent is not a folder in the same tree: every real tree is well formed. */
function wellFormed(tree: Map<string, Content | undefined>): Map<string, Content> {
  const out = new Map<string, Content>();
  for (const p of [...tree.keys()].sort((x, y) => depthOf(x) - depthOf(y))) {
    const c = tree.get(p);
    const parent = parentOf(p);
    if (c && (parent === "" || out.get(parent)?.kind === "dir")) out.set(p, c);
  }
  return out;
}

function buildWorld(specs: PathSpec[]): World {
  const pick = (name: ContentName | "same", base: ContentName) => CONTENTS[name === "same" ? base : name];
  const base = wellFormed(new Map(UNIVERSE.map((p, i) => [p, CONTENTS[specs[i]!.base]])));
  const remote = wellFormed(new Map(UNIVERSE.map((p, i) => [p, pick(specs[i]!.remote, specs[i]!.base)])));
  const local = wellFormed(new Map(UNIVERSE.map((p, i) => [p, pick(specs[i]!.local, specs[i]!.base)])));
  const w: World = { server: new Map(), local, synced: new Map(), head: 0, copies: 0, stale: 0 };
  UNIVERSE.forEach((p, i) => {
    const c = base.get(p);
    if (c) w.synced.set(p, entry(p, c, ++w.head));
    else if (specs[i]!.baseTomb) w.synced.set(p, tomb(p, "file", ++w.head));
  });
  UNIVERSE.forEach((p, i) => {
    const s = w.synced.get(p);
    const r = remote.get(p);
    const unchanged = r ? sameContent(r, live(s)) && r.kind === live(s)?.kind : !live(s);
    if (unchanged && !specs[i]!.remoteBump) {
      if (s) w.server.set(p, s);
    } else if (r) w.server.set(p, entry(p, r, ++w.head));
    else w.server.set(p, tomb(p, s?.kind ?? "file", ++w.head));
  });
  return w;
}

// --- the server, as server/commit.ts decides

type ServerReply = { status: "ok"; entry: Entry | undefined } | { status: "conflict"; current: Entry | undefined } | { status: "error" };

function serverLiveChildren(w: World, folder: string): boolean {
  for (const [p, e] of w.server) if (!e.deleted && isInside(p, folder)) return true;
  return false;
}

function serverPut(w: World, path: string, c: Content, baseVersion: number): ServerReply {
  const current = w.server.get(path);
  const cur = live(current);
  if (cur && sameContent(cur, c)) return { status: "ok", entry: cur };
  const expected = cur ? cur.version : baseVersion === 0 ? 0 : (current?.version ?? 0);
  if (baseVersion !== expected) {
    w.stale++;
    return { status: "conflict", current };
  }
  if (cur?.kind === "dir" && serverLiveChildren(w, path)) return { status: "conflict", current: cur };
  for (const a of ancestorsOf(path)) if (live(w.server.get(a))?.kind === "file") return { status: "error" };
  for (const a of ancestorsOf(path)) if (!live(w.server.get(a))) w.server.set(a, entry(a, dir(), ++w.head));
  const e = entry(path, { ...c, mode: normalMode(c.kind, c.mode) }, ++w.head);
  w.server.set(path, e);
  return { status: "ok", entry: e };
}

function serverDelete(w: World, path: string, baseVersion: number): ServerReply {
  const cur = live(w.server.get(path));
  if (!cur) return { status: "ok", entry: w.server.get(path) };
  if (cur.version !== baseVersion) {
    w.stale++;
    return { status: "conflict", current: cur };
  }
  if (cur.kind === "dir" && serverLiveChildren(w, path)) return { status: "conflict", current: cur };
  const e = tomb(path, cur.kind, ++w.head);
  w.server.set(path, e);
  return { status: "ok", entry: e };
}

// --- the client's file system

function localChildren(w: World, folder: string): string[] {
  return [...w.local.keys()].filter((p) => isInside(p, folder));
}

/** Writes `c` at `path` like a real file system would; false when it cannot. */
function localWrite(w: World, path: string, c: Content): boolean {
  for (const a of ancestorsOf(path)) if (w.local.get(a) && w.local.get(a)!.kind !== "dir") return false;
  const cur = w.local.get(path);
  if (cur?.kind === "dir" && c.kind !== "dir" && localChildren(w, path).length > 0) return false;
  for (const a of ancestorsOf(path)) if (!w.local.has(a)) w.local.set(a, dir());
  w.local.set(path, c);
  return true;
}

function localRemove(w: World, path: string): boolean {
  if (w.local.get(path)?.kind === "dir" && localChildren(w, path).length > 0) return false;
  w.local.delete(path);
  return true;
}

/** Renames the local `path` (and everything inside it) to a conflict name, then uploads it. */
function moveAside(w: World, path: string): void {
  const taken = (p: string) => w.local.has(p) || w.server.has(p) || w.synced.has(p);
  const copy = conflictName(path, { host: `host${++w.copies}`, clientId: "c0ffee", date: new Date(0) }, taken);
  for (const p of [path, ...localChildren(w, path)].sort((x, y) => depthOf(x) - depthOf(y))) {
    w.local.set(copy + p.slice(path.length), w.local.get(p)!);
    w.local.delete(p);
  }
  const r = serverPut(w, copy, w.local.get(copy)!, 0);
  if (r.status === "ok") w.synced.set(copy, r.entry!);
}

/** Makes the local path hold what `e` says (as far as the file system allows) and records it. */
function take(w: World, path: string, e: Entry | undefined): void {
  const ok = !e || e.deleted ? localRemove(w, path) : localWrite(w, path, contentOf(e));
  if (!ok) return;
  if (e) w.synced.set(path, e);
  else w.synced.delete(path);
}

function apply(w: World, a: Action): void {
  switch (a.type) {
    case "none":
      return;
    case "record":
      w.synced.set(a.path, a.entry);
      return;
    case "download":
    case "delete_local":
      take(w, a.path, a.entry);
      return;
    case "conflict_copy":
      if (w.local.has(a.path)) moveAside(w, a.path);
      take(w, a.path, a.entry);
      return;
    case "upload": {
      const c = w.local.get(a.path);
      if (!c) return; // moved aside earlier in this batch
      const r = serverPut(w, a.path, c, a.baseVersion);
      if (r.status === "ok") w.synced.set(a.path, r.entry!);
      else if (r.status === "conflict") {
        moveAside(w, a.path);
        take(w, a.path, r.current);
      }
      return;
    }
    case "delete_remote": {
      const r = serverDelete(w, a.path, a.baseVersion);
      if (r.status === "ok" && r.entry) w.synced.set(a.path, r.entry);
      return;
    }
  }
}

/** File contents the simulation must never lose: exec bit included, a chmod is a write too. */
const key = (c: Content) => `${c.hash}:${normalMode(c.kind, c.mode)}`;

function writes(w: World): Set<string> {
  const out = new Set<string>();
  for (const [p, c] of w.local) if (c.kind === "file" && !sameContent(c, live(w.synced.get(p)))) out.add(key(c));
  for (const [p, e] of w.server) if (!e.deleted && e.kind === "file" && e.version !== w.synced.get(p)?.version) out.add(key(e));
  return out;
}

function liveTree(m: Map<string, Content | Entry>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, c] of m) if (!("deleted" in c) || !c.deleted) out.set(p, c.kind === "dir" ? "dir" : key(c));
  return out;
}

function assertWellFormed(tree: Map<string, string>): void {
  for (const p of tree.keys()) for (const a of ancestorsOf(p)) expect(tree.get(a)).toBe("dir");
}

const MAX_ROUNDS = 4;

/** Plans and applies until nothing is left to do; returns the number of rounds that did work. */
function sync(w: World): number {
  for (let round = 0; round <= MAX_ROUNDS; round++) {
    const plan = reconcile(w.server, w.local, w.synced);
    if (plan.length === 0) return round;
    assertOrdered(plan);
    for (const a of plan) apply(w, a);
  }
  throw new Error(`no fixed point after ${MAX_ROUNDS} rounds: ${JSON.stringify(reconcile(w.server, w.local, w.synced))}`);
}

describe("reconcile property", () => {
  test("reconcile of random correlated trees reaches a fixed point with equal trees and no write lost", () => {
    fc.assert(
      fc.property(worldSpec, (specs) => {
        const w = buildWorld(specs);
        const before = writes(w);
        sync(w);
        const server = liveTree(w.server);
        const local = liveTree(w.local);
        const synced = liveTree(w.synced);
        expect(local).toEqual(server);
        expect(synced).toEqual(server);
        assertWellFormed(server);
        const after = new Set(local.values());
        for (const k of before) expect(after.has(k)).toBe(true);
        expect(w.stale).toBe(0);
      }),
      { numRuns: 3000 },
    );
  });

  test("reconcile plans of random trees always keep the structural order", () => {
    fc.assert(
      fc.property(worldSpec, (specs) => {
        const w = buildWorld(specs);
        assertOrdered(reconcile(w.server, w.local, w.synced));
      }),
      { numRuns: 2000 },
    );
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { Content, Entry } from "../../src/core/entry.ts";
import { isExcluded } from "../../src/core/ignore-rules.ts";
import { type Base, type Found, type PlanInput, planExclude, planPass } from "../../src/core/plan-pass.ts";

// Selective sync in the planner: an excluded path is out of this folder's view. Its news is
// dropped (not deferred: the cursor moves on), nothing of it is uploaded, and its absence here
// is never a deletion on the server.

const file = (hash: string): Content => ({ kind: "file", size: hash.length, mode: 0o644, hash, blocks: [] });
const dir = (): Content => ({ kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [] });
const entry = (path: string, c: Content, version: number): Entry => ({ ...c, path, version, deleted: false, mtime: 0 });
const tomb = (path: string, version: number): Entry => ({ ...file(""), path, version, deleted: true, mtime: 0 });

interface Scene {
  excluded: string[];
  synced?: [Entry, number][];
  local?: [string, Content, number][];
  remote?: Entry[];
  later?: string[];
  settling?: string[];
  deletionsSeen?: string[];
}

function input(s: Scene): PlanInput<Found> {
  const local = s.local ?? [];
  return {
    remote: new Map((s.remote ?? []).map((e) => [e.path, e])),
    local: {
      content: new Map(local.map(([p, c]) => [p, c])),
      stat: new Map(local.map(([p, c, ino]) => [p, { kind: c.kind, ino }])),
      unreadable: new Map(),
      skipped: new Map(),
      later: new Set(s.later),
      settling: new Map((s.settling ?? []).map((p) => [p, 500])),
    },
    synced: new Map((s.synced ?? []).map(([e, ino]) => [e.path, { entry: e, stat: { kind: e.kind, ino } }])),
    treeSize: (s.synced ?? []).length,
    inflight: new Map(),
    // Deletions seen long ago: past their quiet period, they would be sent now.
    state: { deletionsSeen: new Map((s.deletionsSeen ?? []).map((p) => [p, 0])), held: new Set(), confirmed: new Set() },
    policy: { ignored: () => false, massDeleteLimit: Number.POSITIVE_INFINITY, readOnly: false, excluded: (p) => isExcluded(s.excluded, p) },
    now: 10_000,
  };
}

function summary(s: Scene): string[] {
  const plan = planPass(input(s));
  return [
    ...plan.local.map((a) => `${a.type} ${a.path}`),
    ...plan.moves.map((m) => `move ${m.from} -> ${m.to}`),
    ...plan.remote.map((a) => `${a.type} ${a.path}`),
    ...plan.held.map((h) => `held ${h.path}`),
    ...plan.deferred.map((e) => `defer ${e.path}`),
    ...plan.kept.map((e) => `keep ${e.path}`),
    ...plan.skipped.filter((k) => k.reason !== "excluded").map((k) => `skip ${k.path} (${k.reason})`),
  ].sort();
}

const A = file("aaa");
const B = file("bbb");

describe("planPass with excluded paths", () => {
  const rows: [string, Scene, string[]][] = [
    [
      "news under an excluded folder is not downloaded, nor kept for later",
      { excluded: ["d"], remote: [entry("d", dir(), 1), entry("d/x", A, 2), entry("e", B, 3)] },
      ["download e"],
    ],
    [
      "an excluded folder removed here is not deleted on the server",
      { excluded: ["d"], synced: [[entry("d", dir(), 1), 5], [entry("d/x", A, 2), 6]], deletionsSeen: ["d", "d/x"] },
      [],
    ],
    [
      "a file changed or added inside an excluded folder is not uploaded",
      { excluded: ["d"], synced: [[entry("d/x", A, 2), 6]], local: [["d/x", B, 6], ["d/new", A, 9]] },
      [],
    ],
    [
      "a file moved into an excluded folder leaves the view: its old path is deleted, nothing is uploaded",
      { excluded: ["d"], synced: [[entry("a", A, 2), 6]], local: [["d/a", A, 6]], deletionsSeen: ["a"] },
      ["delete_remote a"],
    ],
    [
      "a file moved out of an excluded folder is new to the share",
      { excluded: ["d"], synced: [[entry("d/a", A, 2), 6]], local: [["a", A, 6]] },
      ["upload a"],
    ],
    [
      "an excluded single file is left alone both ways; its neighbours sync",
      { excluded: ["d/x"], synced: [[entry("d/x", A, 2), 6]], local: [["d/y", A, 7]], remote: [entry("d/x", B, 4)], deletionsSeen: ["d/x"] },
      ["upload d/y"],
    ],
    [
      "a path that only starts like an excluded one is not excluded",
      { excluded: ["d"], remote: [entry("dd/x", A, 1)], local: [["d.txt", A, 7]] },
      ["download dd/x", "upload d.txt"],
    ],
    [
      "excluded files being written or over the reading budget are not waited for",
      { excluded: ["d"], later: ["d/a"], settling: ["d/b"], remote: [entry("d/a", A, 3), entry("d/b", B, 4)] },
      [],
    ],
  ];
  for (const [name, scene, expected] of rows) test(name, () => expect(summary(scene)).toEqual(expected));

  // Random worlds: three trees over a small set of paths, some of them excluded.
  const paths = ["d", "d/a", "d/b", "d/e", "d/e/f", "x", "y/z"];
  const contents = [A, B, file("ccc")];
  const world = fc.record({
    excluded: fc.subarray(["d", "d/e", "x", "y/z"]),
    synced: fc.subarray(paths).chain((ps) => fc.tuple(...ps.map((p) => fc.tuple(fc.constant(p), fc.nat({ max: 2 }), fc.integer({ min: 1, max: 5 }))))),
    local: fc.subarray(paths).chain((ps) => fc.tuple(...ps.map((p) => fc.tuple(fc.constant(p), fc.nat({ max: 2 }), fc.integer({ min: 1, max: 30 }))))),
    remote: fc.subarray(paths).chain((ps) => fc.tuple(...ps.map((p) => fc.tuple(fc.constant(p), fc.nat({ max: 3 }))))),
  });
  type World = typeof world extends fc.Arbitrary<infer T> ? T : never;
  const sceneOf = (w: World): Scene => {
    const kindOf = (p: string, c: Content) => (paths.some((q) => q.startsWith(`${p}/`)) ? dir() : c);
    return {
      excluded: w.excluded,
      synced: w.synced.map(([p, c, ino]) => [entry(p, kindOf(p, contents[c]!), ino), ino * 10]),
      local: w.local.map(([p, c, ino]) => [p, kindOf(p, contents[c]!), ino]),
      remote: w.remote.map(([p, c]) => (c === 3 ? tomb(p, 9) : entry(p, kindOf(p, contents[c]!), 9))),
      deletionsSeen: paths,
    };
  };

  test("property: no step of any kind, and no hold, ever names an excluded path", () => {
    fc.assert(
      fc.property(world, (w) => {
        const s = sceneOf(w);
        const plan = planPass(input(s));
        const named = [
          ...plan.local.map((a) => a.path),
          ...plan.remote.map((a) => a.path),
          ...plan.moves.flatMap((m) => [m.from, m.to]),
          ...plan.held.map((h) => h.path),
          ...plan.renames.map((e) => e.path),
          ...plan.deferred.map((e) => e.path),
          ...plan.kept.map((e) => e.path),
        ];
        for (const p of named) expect(isExcluded(s.excluded, p)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe("planExclude: may the local copy of a newly excluded path go?", () => {
  type S = Found & { mtime: number };
  // As local-index.ts sameStat: a folder's mtime moves with its children, only its identity counts.
  const same = (a: S, b: S) => a.ino === b.ino && (a.kind === "dir" || a.mtime === b.mtime);
  const base = (path: string, kind: "file" | "dir", ino: number, mtime: number): [string, Base<S>] => [
    path,
    { entry: entry(path, kind === "dir" ? dir() : A, 1), stat: { kind, ino, mtime } },
  ];
  const rows: [string, [string, S][], [string, Base<S>][], { remove: boolean; keptChanged: string[] }][] = [
    [
      "nothing changed since synced: removed",
      [["d", { kind: "dir", ino: 1, mtime: 5 }], ["d/a", { kind: "file", ino: 2, mtime: 5 }]],
      [base("d", "dir", 1, 1), base("d/a", "file", 2, 5)],
      { remove: true, keptChanged: [] },
    ],
    [
      "a file edited here: kept, and named",
      [["d", { kind: "dir", ino: 1, mtime: 5 }], ["d/a", { kind: "file", ino: 2, mtime: 6 }]],
      [base("d", "dir", 1, 5), base("d/a", "file", 2, 5)],
      { remove: false, keptChanged: ["d/a"] },
    ],
    [
      "a file new here: kept, and named",
      [["d", { kind: "dir", ino: 1, mtime: 5 }], ["d/new", { kind: "file", ino: 3, mtime: 6 }]],
      [base("d", "dir", 1, 5)],
      { remove: false, keptChanged: ["d/new"] },
    ],
    [
      "a file deleted here is no loss (the server has it): removed",
      [["d", { kind: "dir", ino: 1, mtime: 5 }]],
      [base("d", "dir", 1, 5), base("d/a", "file", 2, 5)],
      { remove: true, keptChanged: [] },
    ],
    [
      "a file replaced by a folder of the same name: kept",
      [["d", { kind: "dir", ino: 1, mtime: 5 }], ["d/a", { kind: "dir", ino: 2, mtime: 5 }]],
      [base("d", "dir", 1, 5), base("d/a", "file", 2, 5)],
      { remove: false, keptChanged: ["d/a"] },
    ],
  ];
  for (const [name, found, synced, expected] of rows) {
    test(name, () => expect(planExclude({ found: new Map(found), synced: new Map(synced) }, same)).toEqual(expected));
  }

  test("property: removed exactly when every entry here matches its synced state", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("d/a", "d/b", "d/c", "d/e/f"), fc.boolean(), fc.boolean()), { maxLength: 6 }),
        (rows) => {
          const found = new Map<string, S>();
          const synced = new Map<string, Base<S>>();
          for (const [p, known, edited] of rows) {
            found.set(p, { kind: "file", ino: 7, mtime: edited ? 2 : 1 });
            if (known) synced.set(...base(p, "file", 7, 1));
          }
          const changed = [...found].filter(([p, st]) => !synced.has(p) || st.mtime !== 1).map(([p]) => p);
          const out = planExclude({ found, synced }, same);
          expect(out.remove).toBe(changed.length === 0);
          expect(out.keptChanged).toEqual(changed.sort());
        },
      ),
    );
  });
});

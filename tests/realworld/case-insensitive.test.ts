import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { type ClientProcess, dumpLogs, type ServerProcess, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { DIR, sha256, snapshotTree, type Tree, writeFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

// Issue 9, item 21: names that differ only by case or by Unicode normalisation, made on a
// case-sensitive Linux folder, never overwrite each other on a folder that folds names (macOS,
// Windows, casefold): the second is kept as "name (Case Conflict).ext" and reported. B's folder
// is on a real case-folding file system: a casefold tmpfs, else a vfat image, else an exFAT
// image through FUSE. Needs root to mount; skipped, saying why, where none can be made.

setDefaultTimeout(120_000);

const run = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { encoding: "utf8" });

/** True when `dir` finds a name under another case: the file system folds names there. */
async function folds(dir: string): Promise<boolean> {
  await fs.writeFile(path.join(dir, "CaseProbe"), "");
  try {
    return await fs.exists(path.join(dir, "caseprobe"));
  } finally {
    await fs.rm(path.join(dir, "CaseProbe"));
  }
}

interface FoldingDisk {
  /** A folder on it that folds names. */
  folder: string;
  unmount(): void;
}

/** Mounts the first case-folding file system this machine can make at `at`; why none, otherwise. */
async function mountFolding(at: string, image: string): Promise<FoldingDisk | string> {
  if (process.getuid?.() !== 0) return "mounting needs root";
  const tried: string[] = [];
  const attempt = async (what: string, mount: () => string | undefined, unmount: () => void, folder = at): Promise<FoldingDisk | undefined> => {
    const failed = mount();
    if (failed === undefined && (await folds(folder))) return { folder, unmount };
    tried.push(`${what}: ${failed ?? "mounted, but it does not fold names"}`);
    unmount(); // whatever part of it was made
    return undefined;
  };
  const umount = () => void run("umount", "-l", at);
  const ok = (r: ReturnType<typeof run>) => (r.status === 0 ? undefined : (r.stderr || r.error?.message || `exit ${r.status}`).trim());

  // tmpfs folds only in folders flagged +F, made empty.
  const casefold = await attempt(
    "tmpfs casefold=utf8",
    () => ok(run("mount", "-t", "tmpfs", "-o", "size=64m,casefold=utf8", "tmpfs", at)) ?? ok(run("mkdir", path.join(at, "cf"))) ?? ok(run("chattr", "+F", path.join(at, "cf"))),
    umount,
    path.join(at, "cf"),
  );
  if (casefold) return casefold;

  run("truncate", "-s", "64M", image);
  const vfat = await attempt("vfat image", () => ok(run("mkfs.vfat", image)) ?? ok(run("mount", "-o", "loop,fmask=0133,dmask=0022", image, at)), umount);
  if (vfat) return vfat;

  // exFAT through FUSE wants a block device: a loop device over the image.
  let loop = "";
  const exfat = await attempt(
    "exFAT image through FUSE",
    () => {
      const made = ok(run("mkfs.exfat", image));
      if (made) return made;
      const lo = run("losetup", "-f", "--show", image);
      loop = lo.stdout.trim();
      return ok(lo) ?? ok(run("mount.exfat-fuse", "-o", "fmask=0133,dmask=0022", loop, at));
    },
    () => {
      umount();
      if (loop) run("losetup", "-d", loop);
    },
  );
  return exfat ?? `no case-folding file system could be mounted (${tried.join("; ")})`;
}

// Mounted when the file loads, so that the test can be skipped, with the reason, where it is not possible.
const root: TempDir = await tempDir("dropsim-casefold-");
const mountPoint = root.join("folding");
await fs.mkdir(mountPoint);
const disk = await mountFolding(mountPoint, root.join("disk.img"));
if (typeof disk === "string") console.warn(`Skipping the case-insensitive tests: ${disk}`);

afterAll(async () => {
  if (typeof disk !== "string") disk.unmount();
  await root.remove();
});

const NFC = "caf\u00e9.txt";
const NFD = "cafe\u0301.txt";
/** Names one folding folder cannot hold apart: by case, by normalisation, and two folders. */
const PAIRS: [string, string][] = [
  ["Report.txt", "report.txt"],
  [NFC, NFD],
  ["Docs", "docs"],
];
/** What A writes under pairs/: each name of a pair, or a file in it. */
const FILES: Record<string, string> = {
  "Report.txt": "Report, capital R\n",
  "report.txt": "report, small r\n",
  [NFC]: "café, composed é\n",
  [NFD]: "café, e and a combining accent\n",
  "Docs/a.txt": "in Docs\n",
  "docs/b.txt": "in docs\n",
};

/** `report.txt` → `report (Case Conflict).txt`, `docs` → `docs (Case Conflict)`. */
function caseConflictCopy(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? `${name.slice(0, dot)} (Case Conflict)${name.slice(dot)}` : `${name} (Case Conflict)`;
}

/** What pairs/ holds when `kept` keeps its name and `other` is renamed to its case-conflict copy. */
function keptApart(kept: string, other: string): Tree {
  const tree: Tree = new Map();
  for (const [name, as] of [
    [kept, kept],
    [other, caseConflictCopy(other)],
  ] as const) {
    for (const [file, content] of Object.entries(FILES)) {
      if (file === name) tree.set(`pairs/${as}`, sha256(content));
      if (!file.startsWith(`${name}/`)) continue;
      tree.set(`pairs/${as}`, DIR);
      tree.set(`pairs/${as}${file.slice(name.length)}`, sha256(content));
    }
  }
  return tree;
}

/** B's pairs/: one name of each pair as it was and the other as its case-conflict copy; why not, otherwise. */
function heldOnceEach(tree: Tree): true | string {
  const problems: string[] = [];
  let expected = 0;
  for (const [x, y] of PAIRS) {
    const variants = [keptApart(x, y), keptApart(y, x)];
    const held = variants.find((v) => [...v].every(([p, h]) => tree.get(p) === h));
    if (held) expected += held.size;
    else problems.push(`neither of ${JSON.stringify(x)}, ${JSON.stringify(y)} is kept with the other as its case-conflict copy`);
  }
  const found = [...tree.keys()].filter((p) => p.startsWith("pairs/"));
  if (problems.length > 0 || found.length !== expected) problems.push(`B holds ${found.map((p) => JSON.stringify(p)).join(", ")}`);
  return problems.length === 0 || problems.join("; ");
}

/** Every entry of `from` under pairs/ is in `tree` as it is there; what is not, otherwise. */
function holdsAll(tree: Tree, from: Tree): true | string {
  const missing = [...from].filter(([p, h]) => p.startsWith("pairs/") && tree.get(p) !== h).map(([p]) => JSON.stringify(p));
  return missing.length === 0 || `missing or different: ${missing.join(", ")}`;
}

describe("names that one case-insensitive folder cannot hold apart", () => {
  test.skipIf(typeof disk === "string")("never overwrite each other there: the second is kept as a case-conflict copy and reported", async () => {
    const folder = (disk as FoldingDisk).folder;
    let server: ServerProcess | undefined;
    let a: ClientProcess | undefined;
    let b: ClientProcess | undefined;
    const abortIf = () => server?.unexpectedExit ?? a?.unexpectedExit ?? b?.unexpectedExit;
    try {
      server = await startServer({ dataDir: root.join("server-data") });
      a = startClient({ folder: root.join("A"), server: server.address, name: "A" });
      b = startClient({ folder: path.join(folder, "B"), server: server.address, name: "B" });
      await b.waitForLine(/Syncing /);

      // Made beside A's folder and moved in whole, as an unpacked archive or a checkout arrives.
      for (const [file, content] of Object.entries(FILES)) await writeFile(root.path, `pairs/${file}`, content);
      await fs.rename(root.join("pairs"), path.join(a.folder, "pairs"));
      const onA = await snapshotTree(a.folder);

      await waitFor("B to hold each pair once, the other as a case-conflict copy", async () => heldOnceEach(await snapshotTree(b!.folder)), { abortIf });
      // Each report is read from B's output a moment after the files show.
      const reported = PAIRS.map(([x, y]) => {
        const [nx, ny] = [`pairs/${x}`.normalize("NFC"), `pairs/${y}`.normalize("NFC")].map(RegExp.escape);
        return new RegExp(`Case conflict: "(${nx}" and "${ny}|${ny}" and "${nx})" are one name on this disk`);
      });
      await waitFor("B to report each case conflict", () => {
        const said = b!.logs().normalize("NFC");
        return reported.every((re) => re.test(said)) || "not all reported yet";
      }, { abortIf });

      // The copies are new entries of B's: they reach A, where A's own stay as written. A marker
      // written on B after B looked again at what it wrote shows B went on syncing without harm.
      const onB = await snapshotTree(b.folder);
      await b.restart();
      await b.waitForLine(/Idle:/);
      await writeFile(b.folder, "marker.txt", "after the case conflicts\n");
      await waitFor(
        "A to hold its own files as written, B's case-conflict copies and B's marker",
        async () => {
          const tree = await snapshotTree(a!.folder);
          const verdict = [holdsAll(tree, onA), holdsAll(tree, onB)].find((v) => v !== true) ?? true;
          return verdict !== true ? verdict : tree.has("marker.txt") || "no marker yet";
        },
        { abortIf },
      );
      expect(heldOnceEach(await snapshotTree(b.folder))).toBe(true);

      // A edits the name B holds as a copy: B gets the edit as one more case-conflict copy, and
      // the spelling B kept stays as it was on both sides.
      const kept = (await fs.readdir(path.join(b.folder, "pairs"))).includes("Report.txt") ? "Report.txt" : "report.txt";
      const other = kept === "Report.txt" ? "report.txt" : "Report.txt";
      const edited = `${FILES[other]}edited on A\n`;
      await writeFile(a.folder, `pairs/${other}`, edited);
      onA.set(`pairs/${other}`, sha256(edited));
      await waitFor(
        `B to hold the edit of ${other} as a copy, and ${kept} as it was`,
        async () => {
          const tree = await snapshotTree(b!.folder);
          if (tree.get(`pairs/${kept}`) !== sha256(FILES[kept]!)) return `pairs/${kept} on B: ${tree.get(`pairs/${kept}`) ?? "gone"}`;
          return tree.get(`pairs/${caseConflictCopy(other).replace(")", " 2)")}`) === sha256(edited) || `not yet; B holds ${[...tree.keys()].join(", ")}`;
        },
        { abortIf },
      );
      await b.restart();
      await b.waitForLine(/Idle:/);
      await writeFile(b.folder, "marker2.txt", "after the edit\n");
      await waitFor("B's second marker to reach A", async () => (await snapshotTree(a!.folder)).has("marker2.txt") || "not yet", { abortIf });
      expect(holdsAll(await snapshotTree(a.folder), onA)).toBe(true);
      expect(holdsAll(await snapshotTree(a.folder), await snapshotTree(b.folder))).toBe(true);
    } catch (e) {
      dumpLogs([server, a, b].filter((p) => p !== undefined), 60);
      throw e;
    } finally {
      for (const p of [a, b, server]) await p?.[Symbol.asyncDispose]();
    }
  });
});

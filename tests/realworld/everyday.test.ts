import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { allConflictCopies, DIR, sha256, snapshotTree, writeFile } from "../helpers/tree.ts";

// What people's folders see every day (issue 9, "Prove it"), done by the real programs where this
// machine has them: an editor's saves, a git repository, an extracted archive, a browser download,
// an application's SQLite database and a log file. A writes, B receives through a real server;
// each test keeps to its own subfolder and checks both replicas by content.

setDefaultTimeout(90_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

/** Runs a program to its end; fails with its output when it exits non-zero. */
async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`Command failed with code ${code}: ${cmd.join(" ")}\n${stdout}${stderr}`);
  return stdout;
}

/**
 * Looks at a replica again and again until stopped: what a user or program on B could see
 * while A works. The pause between looks is the observer's pace, not synchronisation.
 */
function observe(look: () => Promise<void>): AsyncDisposable & { stop(): Promise<void> } {
  let looking = true;
  const loop = (async () => {
    while (looking) {
      await look();
      await Bun.sleep(10);
    }
  })();
  const stop = async () => {
    looking = false;
    await loop;
  };
  return { stop, [Symbol.asyncDispose]: stop };
}

/** Names below `dir` (relative, `/`-separated), or none while it does not exist. */
async function namesBelow(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return names.map((n) => n.split(path.sep).join("/"));
}

/** No conflict copy under `under` on either replica, and no conflict about it in either log. */
async function expectNoConflicts(under: string): Promise<void> {
  const c = cluster();
  for (const name of ["A", "B"]) {
    expect(allConflictCopies(await c.snapshot(name, { under }))).toEqual([]);
    const lines = c.client(name).logs().split("\n").filter((l) => /Conflict/.test(l) && l.includes(`"${under}/`));
    expect(lines).toEqual([]);
  }
}

describe("everyday programs in a synced folder", () => {
  test(
    "editor saves (swap file, backup, temp file renamed over, and vim's in-place rewrite) five times quickly reach B as the last save, and B never holds anything but whole saves",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const a = (rel: string) => c.path("A", `editor/${rel}`);
      const salt = randomBytes(8).toString("hex");
      const version = (n: number) => `# Notes ${salt}, save ${n}\n${`line of save ${n}\n`.repeat(40 + n)}`;
      await writeFile(c.path("A"), "editor/notes.txt", version(0));
      await c.waitForTree(new Map([["notes.txt", sha256(version(0))]]), ["B"], { under: "editor" });

      const saves = new Set<string>([sha256(version(0))]);
      const seenHashes = new Set<string>();
      const seenNames = new Set<string>();
      await using watcher = observe(async () => {
        for (const n of await namesBelow(c.path("B", "editor"))) seenNames.add(n);
        const bytes = await fs.readFile(c.path("B", "editor/notes.txt")).catch(() => undefined);
        if (bytes) seenHashes.add(sha256(bytes));
      });

      const vim = Bun.which("vim");
      const source = c.root.join("editor-source.txt");
      let last = "";
      for (let round = 1; round <= 5; round++) {
        // An editor that saves as vim does with 'backupcopy=no' (and as gedit, Emacs and others
        // do): its swap file while open, a backup of the old file, the new text written to a
        // temp name and renamed over the file; the swap file goes when it quits.
        const renamed = version(2 * round - 1);
        await fs.writeFile(a(".notes.txt.swp"), Buffer.concat([Buffer.from("b0VIM 9.0\0"), randomBytes(4086)]));
        await fs.copyFile(a("notes.txt"), a("notes.txt~"));
        const temp = a(`.goutputstream-${randomBytes(3).toString("hex").toUpperCase()}`);
        await fs.writeFile(temp, renamed);
        await fs.rename(temp, a("notes.txt"));
        await fs.rm(a(".notes.txt.swp"));
        saves.add(sha256(renamed));

        // Then vim itself, which on this file writes in place: its swap file, then the file
        // truncated and written again. (In -Es mode, reading into the emptied buffer replaces it.)
        const inPlace = version(2 * round);
        if (vim) {
          await fs.writeFile(source, inPlace);
          await run([vim, "-Es", "-u", "NONE", "-i", "NONE", "-N", "-c", "%d", "-c", `r ${source}`, "-c", "wq", a("notes.txt")]);
        } else await fs.writeFile(a("notes.txt"), inPlace);
        expect(await fs.readFile(a("notes.txt"), "utf8")).toBe(inPlace);
        saves.add(sha256(inPlace));
        last = inPlace;
      }

      await c.waitForTree(new Map([["notes.txt", sha256(last)]]), ["B"], { under: "editor" });
      await watcher.stop();
      // A keeps its own last save and its backup; the swap file and backup never left A.
      expect([...(await c.snapshot("A", { under: "editor" })).entries()].sort()).toEqual(
        [["notes.txt", sha256(last)], ["notes.txt~", sha256(version(8))]].sort() as [string, string][],
      );
      expect([...seenNames].filter((n) => n.endsWith(".swp") || n.endsWith("~"))).toEqual([]);
      expect([...seenHashes].filter((h) => !saves.has(h))).toEqual([]);
      await expectNoConflicts("editor");
    }),
  );

  test(
    "a git repository through commits, a branch checkout and back, and git gc --aggressive arrives on B whole: same tree, fsck and status clean",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const repoA = c.path("A", "git/repo");
      const repoB = c.path("B", "git/repo");
      const env = {
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_AUTHOR_NAME: "Dee Tester",
        GIT_AUTHOR_EMAIL: "dee@example.com",
        GIT_COMMITTER_NAME: "Dee Tester",
        GIT_COMMITTER_EMAIL: "dee@example.com",
      };
      const git = (cwd: string, ...args: string[]) => run(["git", "-c", "init.defaultBranch=main", ...args], { cwd, env });
      const agreeOnMain = () =>
        c.waitForAgreement("the repository is on main", (t) => t.get("repo/.git/HEAD") === sha256("ref: refs/heads/main\n") || "HEAD is not main", ["A", "B"], {
          under: "git",
        });

      await fs.mkdir(repoA, { recursive: true });
      await git(repoA, "init", "-q");
      for (let i = 0; i < 40; i++) await writeFile(repoA, `src/mod${i % 5}/file${i}.ts`, `export const v${i} = ${i};\n${"// filler\n".repeat(i)}`);
      await writeFile(repoA, "README.md", "# project\n");
      await git(repoA, "add", "-A");
      await git(repoA, "commit", "-q", "-m", "first");
      for (let i = 0; i < 10; i++) await writeFile(repoA, `src/mod${i % 5}/file${i}.ts`, `export const v${i} = ${i * 2};\n`);
      await git(repoA, "commit", "-q", "-am", "second");
      // B holds the loose objects before the branch work and gc replace and delete them.
      await c.waitForTree(await c.snapshot("A", { under: "git" }), ["B"], { under: "git", timeout: 60_000 });

      await git(repoA, "checkout", "-q", "-b", "x");
      for (let i = 10; i < 25; i++) await writeFile(repoA, `src/mod${i % 5}/file${i}.ts`, `export const v${i} = "on x";\n`);
      for (let i = 25; i < 30; i++) await fs.rm(path.join(repoA, `src/mod${i % 5}/file${i}.ts`));
      for (let i = 0; i < 8; i++) await writeFile(repoA, `lib/new${i}.ts`, `export const n${i} = ${i};\n`);
      await git(repoA, "add", "-A");
      await git(repoA, "commit", "-q", "-m", "on x");
      await git(repoA, "checkout", "-q", "main");
      await c.waitForTree(await c.snapshot("A", { under: "git" }), ["B"], { under: "git", timeout: 60_000 });
      const loose = (await namesBelow(path.join(repoA, ".git/objects"))).filter((n) => /^[0-9a-f]{2}\/[0-9a-f]{38}$/.test(n));
      expect(loose.length).toBeGreaterThan(50);
      await git(repoA, "gc", "-q", "--aggressive");
      const headA = (await git(repoA, "rev-parse", "HEAD")).trim();
      const xA = (await git(repoA, "rev-parse", "x")).trim();

      const expected = await c.snapshot("A", { under: "git" });
      expect([...expected.keys()].filter((k) => k.endsWith(".pack")).length).toBeGreaterThan(0);
      expect(loose.filter((n) => expected.has(`repo/.git/objects/${n}`))).toEqual([]);
      await c.waitForTree(expected, ["A", "B"], { under: "git", timeout: 60_000 });

      expect(await git(repoB, "fsck", "--full", "--strict")).toBe("");
      expect(await git(repoB, "status", "--porcelain")).toBe("");
      expect((await git(repoB, "rev-parse", "HEAD")).trim()).toBe(headA);
      expect((await git(repoB, "rev-parse", "x")).trim()).toBe(xA);
      expect((await git(repoB, "symbolic-ref", "HEAD")).trim()).toBe("refs/heads/main");
      // git status on B may have refreshed B's index; whatever it wrote, the replicas agree again
      // and the repository is still sound on both.
      await agreeOnMain();
      expect(await git(repoA, "fsck", "--full", "--strict")).toBe("");
      expect(await git(repoA, "status", "--porcelain")).toBe("");
      // And A's git status may have refreshed A's index in turn: that too settles without a conflict.
      await agreeOnMain();
      await expectNoConflicts("git");
    }),
  );

  test(
    "a tar.gz of 300 files in nested folders extracted with tar arrives on B identical",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const src = c.root.join("archive-source");
      for (let i = 0; i < 300; i++) {
        const rel = `project/d${i % 6}/s${i % 4}/t${i % 3}/file-${String(i).padStart(3, "0")}.dat`;
        await writeFile(src, rel, randomBytes(i % 50 === 0 ? 300_000 : (i * 97) % 20_000));
      }
      const archive = c.root.join("project.tar.gz");
      await run(["tar", "czf", archive, "-C", src, "project"]);
      const expected = await snapshotTree(src);
      expect([...expected.values()].filter((v) => v !== DIR).length).toBe(300);

      await fs.mkdir(c.path("A", "archive"));
      await run(["tar", "xzf", archive, "-C", c.path("A", "archive")]);
      await c.waitForTree(expected, ["A", "B"], { under: "archive", timeout: 60_000 });
      await expectNoConflicts("archive");
    }),
  );

  test(
    "a browser download written as .crdownload for 3 s then renamed appears on B only whole, and its partial name never leaves A",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await fs.mkdir(c.path("A", "download"));
      const sizesOnB = new Set<number>();
      const namesOnB = new Set<string>();
      await using watcher = observe(async () => {
        for (const n of await namesBelow(c.path("B", "download"))) namesOnB.add(n);
        const st = await fs.stat(c.path("B", "download/big.bin")).catch(() => undefined);
        if (st) sizesOnB.add(st.size);
      });

      const partial = c.path("A", "download/big.bin.crdownload");
      const handle = await fs.open(partial, "w");
      const pieces: Buffer[] = [];
      try {
        for (const end = performance.now() + 3000; performance.now() < end; ) {
          const piece = randomBytes(128 << 10);
          await handle.write(piece);
          pieces.push(piece);
          // The network's pace: a piece every 50 ms.
          await Bun.sleep(50);
        }
      } finally {
        await handle.close();
      }
      const whole = Buffer.concat(pieces);
      await fs.rename(partial, c.path("A", "download/big.bin"));

      await c.waitForTree(new Map([["big.bin", sha256(whole)]]), ["A", "B"], { under: "download" });
      await watcher.stop();
      expect([...namesOnB].filter((n) => n !== "big.bin")).toEqual([]);
      expect([...sizesOnB].filter((s) => s !== whole.length)).toEqual([]);
      await expectNoConflicts("download");
    }),
  );

  test(
    "a SQLite database written in place by 200 transactions over 3 s opens on B intact with all 200 rows",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await fs.mkdir(c.path("A", "app"));
      const writer = `
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
assert db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, at REAL, body TEXT)")
for i in range(1, 201):
    db.execute("BEGIN")
    db.execute("INSERT INTO events (id, at, body) VALUES (?, ?, ?)", (i, time.time(), "event %d " % i + "x" * 200))
    db.execute("COMMIT")
    time.sleep(0.015)  # the application's pace: 200 transactions over about 3 s
db.close()
`;
      await run(["python3", "-c", writer, c.path("A", "app/data.db")]);
      const db = await fs.readFile(c.path("A", "app/data.db"));
      await c.waitForTree(new Map([["data.db", sha256(db)]]), ["A", "B"], { under: "app" });

      // Read-only, so that checking B's copy changes nothing there.
      const check = `
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(db.execute("PRAGMA integrity_check").fetchone()[0])
print(db.execute("SELECT count(*), min(id), max(id), sum(length(body)) FROM events").fetchone())
`;
      const expectedRows = `(200, 1, 200, ${Array.from({ length: 200 }, (_, i) => `event ${i + 1} `.length + 200).reduce((x, y) => x + y)})`;
      expect(await run(["python3", "-c", check, c.path("B", "app/data.db")])).toBe(`ok\n${expectedRows}\n`);
      if (Bun.which("sqlite3")) {
        expect(await run(["sqlite3", "-readonly", c.path("B", "app/data.db"), "PRAGMA integrity_check; SELECT count(*) FROM events;"])).toBe("ok\n200\n");
      }
      await expectNoConflicts("app");
    }),
  );

  test(
    "a log file appended by sh every 50 ms for 5 s arrives complete, and B only ever holds a prefix of it",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await fs.mkdir(c.path("A", "log"));
      const seenOnB = new Set<string>();
      await using watcher = observe(async () => {
        const text = await fs.readFile(c.path("B", "log/app.log"), "utf8").catch(() => undefined);
        if (text !== undefined) seenOnB.add(text);
      });
      // The shell's sleep is the program's pace: a line every 50 ms, 100 lines.
      const script = 'i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo "$i: request served, status 200, took ${i}ms" >> app.log; sleep 0.05; done';
      await run(["sh", "-c", script], { cwd: c.path("A", "log") });
      const final = await fs.readFile(c.path("A", "log/app.log"), "utf8");
      expect(final.split("\n").length).toBe(101);

      await c.waitForTree(new Map([["app.log", sha256(final)]]), ["A", "B"], { under: "log" });
      await watcher.stop();
      const notPrefixes = [...seenOnB].filter((s) => !final.startsWith(s)).map((s) => `${s.length} bytes ending ${JSON.stringify(s.slice(-60))}`);
      expect(notPrefixes).toEqual([]);
      await expectNoConflicts("log");
    }),
  );
});

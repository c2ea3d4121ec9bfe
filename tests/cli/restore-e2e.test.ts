import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { findSyncedFolder, withServer } from "../../src/client/one-shot.ts";
import type { MessageOf, ServerMessage } from "../../src/protocol/messages.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { createToken, dropsimCommand, dumpLogsOnFailure, startClient } from "../helpers/spawn-dropsim.ts";
import { conflictCopiesOf, sha256, type Tree, writeFile } from "../helpers/tree.ts";

// history, trash and restore as a user runs them: inside a synced folder of a real server, with
// two real clients that must both end up holding what was restored.
setDefaultTimeout(120_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

interface Run {
  code: number;
  out: string;
  err: string;
}

async function dropsim(cwd: string, args: string[]): Promise<Run> {
  const proc = Bun.spawn(dropsimCommand(args), { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

async function json<T>(cwd: string, args: string[]): Promise<T> {
  const r = await dropsim(cwd, [...args, "--json"]);
  if (r.code !== 0) throw new Error(`dropsim ${args.join(" ")} exited ${r.code}: ${r.err}${r.out}`);
  return JSON.parse(r.out) as T;
}

async function ok(cwd: string, args: string[]): Promise<Run> {
  const r = await dropsim(cwd, args);
  if (r.code !== 0) throw new Error(`dropsim ${args.join(" ")} exited ${r.code}: ${r.err}${r.out}`);
  return r;
}

interface Row {
  version: number;
  at: string;
  change: string;
  path: string;
  size: number;
}

/** Waits until A and B agree on `dir` and it holds exactly `files` (name → content). */
function bothHold(dir: string, files: Record<string, string | null>): Promise<Tree> {
  return cluster().waitForAgreement(
    `${dir}/ holds ${JSON.stringify(files)}`,
    (t) => {
      for (const [name, content] of Object.entries(files)) {
        const want = content === null ? undefined : sha256(content);
        if (t.get(name) !== want) return `${name} is ${t.get(name) ?? "absent"}, expected ${content === null ? "absent" : JSON.stringify(content)}`;
      }
      return true;
    },
    undefined,
    { under: dir },
  );
}

test(
  "a file through 3 edits and a delete: history lists each version, trash holds it, and every version comes back by number and by time on both clients",
  dumpLogsOnFailure(async () => {
    const A = cluster().path("A");
    const contents = ["one\n", "two, longer\n", "three, the longest\n"];
    for (const c of contents) {
      await writeFile(cluster().path("A", "a"), "notes.txt", c);
      await bothHold("a", { "notes.txt": c });
    }
    await fs.rm(cluster().path("A", "a/notes.txt"));
    await bothHold("a", { "notes.txt": null });

    const rows = await json<Row[]>(path.join(A, "a"), ["history", "notes.txt"]);
    expect(rows.map((r) => r.change)).toEqual(["delete", "edit", "edit", "create"]);
    expect(rows.every((r) => r.path === "a/notes.txt" && !Number.isNaN(Date.parse(r.at)))).toBe(true);
    const versions = rows.slice(1).reverse();
    expect(versions.map((r) => r.size)).toEqual(contents.map((c) => c.length));

    const trash = await json<{ path: string; restore: string }[]>(A, ["trash"]);
    expect(trash.map((t) => t.path)).toContain("a/notes.txt");
    expect(trash.find((t) => t.path === "a/notes.txt")!.restore).toBe("dropsim restore a/notes.txt");
    const human = await ok(cluster().path("B"), ["history", "a/notes.txt"]);
    expect(human.out).toMatch(/VERSION\s+TIME\s+SIZE\s+CHANGE\s+CLIENT/);
    expect(human.out).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d/);

    await ok(A, ["restore", "a/notes.txt"]);
    await bothHold("a", { "notes.txt": contents[2]! });

    for (const [i, row] of versions.entries()) {
      await ok(path.join(A, "a"), ["restore", "notes.txt", "--version", String(row.version)]);
      await bothHold("a", { "notes.txt": contents[i]! });
    }
    for (const [i, row] of [...versions.entries()].reverse()) {
      await ok(cluster().path("B", "a"), ["restore", "notes.txt", "--at", row.at]);
      await bothHold("a", { "notes.txt": contents[i]! });
    }
    const after = await json<Row[]>(A, ["history", "a/notes.txt"]);
    expect(after[0]!.change).toBe("restore");
  }),
);

test(
  "a restore racing an edit on another client keeps both: the edit, and the old content as a conflict copy, on both clients",
  dumpLogsOnFailure(async () => {
    await writeFile(cluster().path("A", "b"), "race.txt", "old\n");
    await bothHold("b", { "race.txt": "old\n" });
    await fs.writeFile(cluster().path("A", "b/race.txt"), "current\n");
    await bothHold("b", { "race.txt": "current\n" });
    const [row] = await json<Row[]>(cluster().path("A"), ["history", "b/race.txt", "--limit", "2"]).then((r) => r.slice(1));

    // The restore is asked on a session that saw the journal before B's edit landed.
    const runtime = await loadRuntime();
    const folder = await findSyncedFolder(cluster().path("A"));
    await withServer(runtime, folder, async ({ welcome, ask }) => {
      await fs.writeFile(cluster().path("B", "b/race.txt"), "edited on B\n");
      await bothHold("b", { "race.txt": "edited on B\n" });
      await ask<MessageOf<ServerMessage, "restore_result">>({ type: "restore", path: "b/race.txt", version: row!.version, seen: welcome.head, dryRun: false });
    });
    await cluster().waitForAgreement(
      "race.txt holds B's edit and one conflict copy the old content",
      (t) => {
        const copies = conflictCopiesOf(t, "race.txt");
        if (t.get("race.txt") !== sha256("edited on B\n")) return "race.txt lost B's edit";
        return (copies.length === 1 && t.get(copies[0]!) === sha256("old\n")) || `conflict copies: ${copies.join(", ") || "none"}`;
      },
      undefined,
      { under: "b" },
    );
  }),
);

test(
  "restore . --at TIME inside a folder rewinds it: a deleted file returns, a created one goes to the trash, a moved one returns, an edited one gets its old content",
  dumpLogsOnFailure(async () => {
    const d = cluster().path("A", "d");
    await writeFile(d, "keep.txt", "keep\n");
    await writeFile(d, "gone.txt", "gone\n");
    await writeFile(d, "sub/moved.txt", "moved\n");
    await writeFile(d, "edit.txt", "before\n");
    const before = { "keep.txt": "keep\n", "gone.txt": "gone\n", "sub/moved.txt": "moved\n", "edit.txt": "before\n" };
    await bothHold("d", before);
    const [newest] = await json<Row[]>(d, ["history", "."]);

    await fs.rm(path.join(d, "gone.txt"));
    await writeFile(d, "new.txt", "new\n");
    await fs.rename(path.join(d, "sub/moved.txt"), path.join(d, "moved-here.txt"));
    await fs.writeFile(path.join(d, "edit.txt"), "after\n");
    await bothHold("d", { "gone.txt": null, "new.txt": "new\n", "sub/moved.txt": null, "moved-here.txt": "moved\n", "edit.txt": "after\n" });

    const dry = await ok(d, ["restore", ".", "--at", newest!.at, "--dry-run"]);
    expect(dry.out + dry.err).toMatch(/would/i);
    const still = await cluster().snapshot("A", { under: "d" });
    expect(still.get("new.txt")).toBe(sha256("new\n"));

    await ok(d, ["restore", ".", "--at", newest!.at]);
    const tree = await bothHold("d", { ...before, "new.txt": null, "moved-here.txt": null });
    expect([...tree.keys()].filter((k) => tree.get(k) !== "dir").sort()).toEqual(Object.keys(before).sort());
    const trash = await json<{ path: string }[]>(d, ["trash", "."]);
    expect(trash.map((t) => t.path)).toContain("d/new.txt");
  }),
);

test(
  "a read-only token may list history and trash, but a restore is refused in one line with a non-zero exit",
  dumpLogsOnFailure(async () => {
    await writeFile(cluster().path("A", "c"), "ro.txt", "read me\n");
    await bothHold("c", { "ro.txt": "read me\n" });
    const token = await createToken(cluster().server.dataDir, ["--read-only"]);
    const folder = cluster().root.join("R");
    const reader = startClient({ folder, server: cluster().server.address, name: "R", token });
    cluster().clients.push(reader);
    await cluster().waitFor("R downloads c/ro.txt", async () => (await fs.readFile(path.join(folder, "c/ro.txt"), "utf8").catch(() => "")) === "read me\n" || "not yet");

    const rows = await json<Row[]>(folder, ["history", "c/ro.txt"]);
    expect(rows.map((r) => r.change)).toEqual(["create"]);
    await json<unknown[]>(folder, ["trash"]);
    const refused = await dropsim(folder, ["restore", "c/ro.txt", "--version", String(rows[0]!.version)]);
    expect(refused.code).not.toBe(0);
    const lines = (refused.out + refused.err).trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/read-only/);
  }),
);

import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ANY_TOKEN, type ClientProcess, dumpLogs, startClient } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { partialDownloads, sha256, snapshotTree, type Tree } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { dirEntry, FakeServer, fileEntry, honest, type Script, withHandshake } from "./_fake-server.ts";
import { listAll } from "./_lib.ts";
import { symlinkContent } from "../../src/core/entry.ts";

// A real `dropsim sync` process against a fake server that lies, sends garbage or hangs up
// mid-frame. Whatever it is sent, the client never writes outside its folder, never exits,
// and never lets a file that is not complete and verified appear in its folder.

setDefaultTimeout(60_000);

let root: TempDir;
let folder: string;
let outside: string;
let client: ClientProcess | undefined;
let fake: FakeServer | undefined;
let patrol: Patrol | undefined;
const KEEP = "outside file: must never change\n";

beforeEach(async () => {
  root = await tempDir("dropsim-malicious-");
  folder = root.join("folder");
  outside = root.join("outside");
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, "keep.txt"), KEEP);
});

afterEach(async () => {
  patrol?.stop();
  patrol = undefined;
  await client?.[Symbol.asyncDispose]();
  client = undefined;
  fake?.[Symbol.dispose]();
  fake = undefined;
  await root.remove();
});

/**
 * Watches the client's folder every few milliseconds while a test runs: every file seen must be
 * one of `allowed` (path → SHA-256 of its complete content). A partial file would be caught.
 */
class Patrol {
  readonly violations: string[] = [];
  private running = true;
  private done: Promise<void>;
  constructor(
    private readonly dir: string,
    private readonly allowed: Map<string, string> = new Map(),
  ) {
    this.done = this.loop();
  }
  private async loop(): Promise<void> {
    while (this.running) {
      const tree = await snapshotTree(this.dir).catch(() => new Map() as Tree);
      for (const [p, v] of tree) {
        if (v === "dir" || v.startsWith("symlink")) continue;
        if (this.allowed.get(p) !== v && this.violations.length < 20) this.violations.push(`${p}: ${v.slice(0, 12)}…`);
      }
      await Bun.sleep(15);
    }
  }
  stop(): Promise<void> {
    this.running = false;
    return this.done;
  }
}

/** `test` that prints the client's log when the case fails. */
function hostileTest(name: string, fn: () => Promise<void>, timeout?: number): void {
  test(
    name,
    async () => {
      try {
        await fn();
      } catch (e) {
        if (client) dumpLogs([client], 80);
        throw e;
      }
    },
    timeout,
  );
}

function start(script: Script, allowed?: Map<string, string>): ClientProcess {
  fake = new FakeServer(script);
  client = startClient({ folder, server: fake.address, name: "client", token: ANY_TOKEN });
  patrol = new Patrol(folder, allowed);
  return client;
}

/**
 * A server that is honest about `file` except for its block bytes: each block of every
 * get_blocks is answered with `corrupt(its real bytes, attempt)`. Returns the attempt count so far.
 */
function serveCorruptBlocks(file: ReturnType<typeof fileEntry>, corrupt: (good: Uint8Array, attempt: number) => Uint8Array): () => number {
  let attempts = 0;
  start(
    honest({ head: 1, entries: [file.entry], blocks: file.blocks }, (conn, f) => {
      if (f.json?.type !== "get_blocks") return false;
      attempts++;
      for (const h of f.json.hashes as string[]) conn.sendBlock(h, corrupt(file.blocks.get(h)!, attempts));
      conn.send({ type: "blocks_done", id: f.json.id, missing: [] });
      return true;
    }),
  );
  return () => attempts;
}

function until(what: string, check: () => boolean | Promise<boolean>, describeState: () => string = () => "not yet", timeout = 30_000): Promise<void> {
  return waitFor(what, async () => ((await check()) ? true : describeState()), {
    timeout,
    abortIf: () => client?.unexpectedExit,
  });
}

/** The checks every case ends with. */
async function assertUnharmed(): Promise<void> {
  await patrol?.stop();
  expect(patrol?.violations ?? []).toEqual([]);
  expect(client!.running).toBe(true);
  expect(await fs.readFile(path.join(outside, "keep.txt"), "utf8")).toBe(KEEP);
  expect(await listAll(outside)).toEqual(["keep.txt"]);
  // Nothing next to the folder either ("../x" from inside it lands here).
  expect(await listAll(root.path).then((all) => all.filter((p) => !p.startsWith("folder/") && p !== "folder" && !p.startsWith("outside")))).toEqual([]);
}

/** How many lines of the client's output match `re`. */
function count(re: RegExp): number {
  return client!.logs().split("\n").filter((l) => re.test(l)).length;
}

async function tmpLeftovers(): Promise<string[]> {
  return [...(await partialDownloads(folder)).keys()];
}

describe("a client talking to a hostile server", () => {
  hostileTest("garbage instead of a welcome: the client reconnects and writes nothing", async () => {
    let n = 0;
    start((conn, f) => {
      if (f.json?.type !== "hello") return;
      n++;
      conn.write(new Uint8Array(randomBytes(n % 2 === 0 ? 64 : 5000)));
      if (n % 3 === 0) conn.close();
    });
    await until("the client to try three times", () => fake!.conns.length >= 3, () => `${fake!.conns.length} connection(s)`);
    await assertUnharmed();
    expect((await snapshotTree(folder)).size).toBe(0);
  });

  hostileTest("a welcome cut off mid-frame, then a hang-up: the client reconnects and then syncs normally", async () => {
    const content = new Uint8Array(randomBytes(300_000));
    const file = fileEntry("after-hangup.bin", content, 1);
    const normal = honest({ head: 1, entries: [file.entry], blocks: file.blocks });
    start(
      (conn, f) => {
        if (conn.id === 1) {
          if (f.json?.type === "hello") {
            const welcome = new TextEncoder().encode(JSON.stringify({ type: "welcome", id: f.json.id, protocol: 1, serverId: "x", head: 1 }));
            const whole = new Uint8Array(9 + welcome.length);
            new DataView(whole.buffer).setBigUint64(0, BigInt(1 + welcome.length));
            whole[8] = 1;
            whole.set(welcome, 9);
            conn.write(whole.subarray(0, 20));
            setTimeout(() => conn.close(), 200);
          }
          return;
        }
        normal(conn, f);
      },
      new Map([["after-hangup.bin", sha256(content)]]),
    );
    await until("after-hangup.bin to arrive complete", async () => (await snapshotTree(folder)).get("after-hangup.bin") === sha256(content));
    await assertUnharmed();
  });

  hostileTest("a welcome cut off mid-frame, then silence: the client waits without writing or crashing", async () => {
    start((conn, f) => {
      if (f.json?.type === "hello") conn.write(new Uint8Array([0, 0, 0, 0, 0, 0, 1, 0, 1, 0x7b, 0x22]));
    });
    await until("the client to say hello", () => fake!.messages("hello").length >= 1);
    await client!.waitForLine(/Syncing /);
    await assertUnharmed();
    expect((await snapshotTree(folder)).size).toBe(0);
  });

  hostileTest("changes_result entries with ../, absolute and .dropsim paths are refused as a whole", async () => {
    const legit = fileEntry("legit.txt", new TextEncoder().encode("legit\n"), 1);
    const evil = (p: string, version: number) => ({ ...fileEntry(p, new TextEncoder().encode("pwned\n"), version).entry });
    const blocks = new Map([...legit.blocks, ...fileEntry("x", new TextEncoder().encode("pwned\n"), 1).blocks]);
    const pages = [
      [legit.entry, evil("../escape.txt", 2)],
      [evil("../outside/keep.txt", 3)],
      [evil("/tmp/dropsim-pwned-abs", 5), evil("../../../../../../tmp/dropsim-pwned", 4)],
      [evil(".dropsim/state.db", 6), evil("a/../../escape2.txt", 7)],
      [{ ...evil("../outside/keep.txt", 9), deleted: true, kind: "file" }, dirEntry("..", 10), evil("C:\\escape", 8)],
    ];
    let served = 0;
    start(
      honest({ head: 10, entries: [], blocks }, (conn, f) => {
        if (f.json?.type !== "changes") return false;
        const entries = pages[served++ % pages.length]!;
        conn.send({ type: "changes_result", id: f.json.id, head: 10, entries, more: false });
        return true;
      }),
    );
    await until(`every hostile page to be served`, () => served >= pages.length + 1, () => `${served} pages served`, 60_000);
    await assertUnharmed();
    expect((await snapshotTree(folder)).size).toBe(0);
    expect(await fs.exists("/tmp/dropsim-pwned")).toBe(false);
    expect(await fs.exists("/tmp/dropsim-pwned-abs")).toBe(false);
  });

  hostileTest("a changed push with ../ paths is refused; a valid push on the same connection still works", async () => {
    const good = fileEntry("pushed.txt", new TextEncoder().encode("pushed\n"), 2);
    const evil = fileEntry("../pushed-evil.txt", new TextEncoder().encode("pwned\n"), 1);
    const state = { head: 0, entries: [] as Record<string, unknown>[], blocks: new Map([...good.blocks, ...evil.blocks]) };
    start(honest(state), new Map([["pushed.txt", sha256("pushed\n")]]));
    await client!.waitForLine(/Idle: folder and server agree/);
    const conn = fake!.conns.at(-1)!;
    conn.send({ type: "changed", from: 0, head: 1, entries: [evil.entry] });
    await client!.waitForLine(/Server sent something invalid/);
    state.head = 2;
    state.entries = [good.entry];
    conn.send({ type: "changed", from: 0, head: 2, entries: [good.entry] });
    await until("pushed.txt to arrive", async () => (await snapshotTree(folder)).get("pushed.txt") === sha256("pushed\n"));
    expect(fake!.conns.length).toBe(1);
    await assertUnharmed();
  });

  hostileTest("entries that lead through a symlink to outside the folder are never written through it", async () => {
    await fs.mkdir(folder, { recursive: true });
    await fs.symlink(outside, path.join(folder, "link"));
    await fs.symlink(path.join(outside, "keep.txt"), path.join(folder, "keep-link"));
    const inner = fileEntry("link/evil.txt", new TextEncoder().encode("pwned\n"), 2);
    const deep = fileEntry("link/sub/evil.txt", new TextEncoder().encode("pwned\n"), 4);
    const over = fileEntry("keep-link", new TextEncoder().encode("overwritten through a link\n"), 5);
    // The server agrees that "link" is this very symlink (links are entries now): what it
    // says lies below the link must still never be written through it.
    const entries = [{ path: "link", ...symlinkContent(outside), version: 1, deleted: false, mtime: 0 }, inner.entry, dirEntry("link/sub", 3), deep.entry, over.entry];
    const blocks = new Map([...inner.blocks, ...deep.blocks, ...over.blocks]);
    start(honest({ head: 5, entries, blocks }), new Map([["keep-link", sha256("overwritten through a link\n")]]));
    await until("the client to refuse the symlinked path twice", () => count(/link.* is a symbolic link/) >= 2, () => client!.logs(10));
    await assertUnharmed();
    expect((await fs.lstat(path.join(folder, "link"))).isSymbolicLink()).toBe(true);
  });

  // Found here: one remote entry the client could not apply (a folder where the user has a
  // symlink) failed the whole pass, every pass, so nothing else from the server was applied again.
  hostileTest("an entry that cannot be written (its folder is a local symlink) does not stop other entries from syncing", async () => {
    await fs.mkdir(folder, { recursive: true });
    await fs.symlink(outside, path.join(folder, "link"));
    const other = fileEntry("other.txt", new TextEncoder().encode("other\n"), 3);
    const entries = [dirEntry("link", 1), dirEntry("link/sub", 2), other.entry];
    start(honest({ head: 3, entries, blocks: other.blocks }), new Map([["other.txt", sha256("other\n")]]));
    await until(
      "other.txt to arrive, or three failed passes",
      async () => (await snapshotTree(folder)).has("other.txt") || count(/Sync pass failed/) >= 3,
      () => client!.logs(10),
    );
    await assertUnharmed();
    expect((await snapshotTree(folder)).get("other.txt")).toBe(sha256("other\n"));
  });

  hostileTest("block bytes that do not match their hash never become a file", async () => {
    const attempts = serveCorruptBlocks(fileEntry("victim.bin", new Uint8Array(randomBytes(200_000)), 1), (good, attempt) => {
      if (attempt % 2 !== 0) return good.subarray(0, good.length - 1);
      const bad = new Uint8Array(good);
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
      return bad;
    });
    await until("three download attempts", () => attempts() >= 3, () => `${attempts()} attempt(s)`);
    await client!.waitForLine(/wrong bytes|Cannot write "victim\.bin"/);
    await assertUnharmed();
    expect((await snapshotTree(folder)).size).toBe(0);
  });

  // Found here: when a block fetch threw (bad bytes, lost connection), writeFiles left the loop
  // without aborting its temp file, which stayed in .dropsim/tmp with its handle open.
  hostileTest("a download that fails on bad block bytes leaves no temp file behind", async () => {
    const attempts = serveCorruptBlocks(fileEntry("victim.bin", new Uint8Array(randomBytes(200_000)), 1), (good) => new Uint8Array(good.length));
    await until("two download attempts", () => attempts() >= 2, () => `${attempts()} attempt(s)`);
    await until("the client to give up on the second", () => count(/wrong bytes/) >= 2, () => client!.logs(10));
    await assertUnharmed();
    expect(await tmpLeftovers()).toEqual([]);
  });

  hostileTest("an entry whose blocks do not add up to its size is never written", async () => {
    const content = new Uint8Array(randomBytes(10_000));
    const file = fileEntry("short.bin", content, 1);
    const lying = { ...file.entry, size: 20_000 };
    start(honest({ head: 1, entries: [lying], blocks: file.blocks }));
    await until("two download attempts", () => fake!.messages("get_blocks").length + fake!.messages("changes").length >= 3);
    await assertUnharmed();
    expect((await snapshotTree(folder)).size).toBe(0);
  });

  // Same leak as above, and worse: when the garbage collector closes the leaked FileHandle,
  // Bun throws "A FileHandle object was closed during garbage collection" and the client exits 1.
  test("a server that hangs up mid-block, again and again, never leaves a partial file, never crashes the client; the download completes later", async () => {
    const content = new Uint8Array(randomBytes(3 * 1024 * 1024));
    const file = fileEntry("big.bin", content, 1, 256 * 1024);
    let cuts = 0;
    start(
      honest({ head: 1, entries: [file.entry], blocks: file.blocks }, (conn, f) => {
        if (f.json?.type !== "get_blocks" || cuts >= 4) return false;
        cuts++;
        const hashes = f.json.hashes as string[];
        // Some whole blocks, then half a frame, then the line goes dead. (The client may ask
        // for few blocks per request, and have several requests in flight.)
        const whole = Math.min(cuts, hashes.length - 1);
        for (const h of hashes.slice(0, whole)) conn.sendBlock(h, file.blocks.get(h)!);
        const h = hashes[whole]!;
        const body = file.blocks.get(h)!;
        const framed = new Uint8Array(9 + 32 + body.length);
        new DataView(framed.buffer).setBigUint64(0, BigInt(1 + 32 + body.length));
        framed[8] = 2;
        framed.set(Buffer.from(h, "hex"), 9);
        framed.set(body, 41);
        conn.write(framed.subarray(0, 41 + body.length / 2));
        setTimeout(() => conn.close(), 50);
        return true;
      }),
      new Map([["big.bin", sha256(content)]]),
    );
    await until("big.bin to arrive complete", async () => (await snapshotTree(folder)).get("big.bin") === sha256(content), () => `${cuts} cut(s) so far`, 60_000);
    expect(cuts).toBe(4);
    await assertUnharmed();
    await client!.waitForLine(/Idle: folder and server agree/);
    expect(await tmpLeftovers()).toEqual([]);
  });
});

import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { FakeServer, fileEntry, honest, type Script } from "../hostile/_fake-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { SyncProcess } from "./_sync-process.ts";

// A real `dropsim sync` whose token only reads: it downloads, never sends a change, keeps every
// local change and tells of each once. The server's own refusal is tested on the server side.

setDefaultTimeout(30_000);

const TOKEN = `dst_0123456789ab_${"R".repeat(43)}`;
const enc = (s: string) => new TextEncoder().encode(s);

function readOnly(state: Parameters<typeof honest>[0]): Script {
  const rest = honest(state);
  return (conn, f) => {
    if (f.json?.type !== "hello") return rest(conn, f);
    conn.send({ type: "welcome", id: f.json.id, protocol: PROTOCOL_VERSION, serverId: "fake", head: state.head, share: "docs", scope: "read_only" });
  };
}

test("a read-only folder downloads, sends nothing, keeps local changes (a remote edit of one makes a conflict copy) and tells of each once", async () => {
  await using dir = await tempDir("dropsim-read-only-");
  const folder = dir.join("folder");
  const v1 = fileEntry("a.txt", enc("server 1\n"), 1);
  const state = { head: 1, entries: [v1.entry], blocks: new Map(v1.blocks) };
  using fake = new FakeServer(readOnly(state));
  await using sync = new SyncProcess([folder, "--server", fake.address, "--share", "docs", "--token", TOKEN]);
  await waitFor("a.txt downloaded", async () => (await fs.readFile(`${folder}/a.txt`, "utf8").catch(() => "")) === "server 1\n" || "not yet");

  await fs.writeFile(`${folder}/mine.txt`, "mine\n");
  await fs.writeFile(`${folder}/a.txt`, "local edit\n");
  await sync.waitForLine(/"mine\.txt": not uploaded: read-only share/);
  await sync.waitForLine(/"a\.txt": not uploaded: read-only share/);

  const v2 = fileEntry("a.txt", enc("server 2\n"), 2);
  for (const [h, b] of v2.blocks) state.blocks.set(h, b);
  state.entries.push(v2.entry);
  state.head = 2;
  fake.conns.at(-1)!.send({ type: "changed", from: 1, head: 2, entries: [v2.entry] });
  const copy = await sync.waitForLine(/Conflict on "a\.txt": kept your version as "/);
  const copyName = /kept your version as "(.+)"$/.exec(copy)![1]!;
  // The conflict is told when the local version is set aside, before the server's is written.
  await waitFor("a.txt to hold the server's version", async () => (await fs.readFile(`${folder}/a.txt`, "utf8")) === "server 2\n" || "not yet");
  expect(await fs.readFile(`${folder}/${copyName}`, "utf8")).toBe("local edit\n");
  await sync.waitForLine(new RegExp(`"${copyName.replace(/[()]/g, "\\$&")}": not uploaded: read-only share`));

  // Looked at again, the same local changes are not told of again.
  const idle = () => sync.lines.filter((l) => l.includes("Idle: folder and server agree")).length;
  const before = idle();
  await fs.writeFile(`${folder}/mine.txt`, "mine, edited\n");
  await waitFor("a pass after the edit", () => idle() > before || "no pass yet");
  const told = (p: string) => sync.lines.filter((l) => l.includes(`"${p}": not uploaded: read-only share`)).length;
  expect(told("mine.txt")).toBe(1);
  expect(told("a.txt")).toBe(1);
  expect(await fs.readFile(`${folder}/mine.txt`, "utf8")).toBe("mine, edited\n");
  expect(fake.messages("apply")).toEqual([]);
  expect(fake.messages("has_blocks")).toEqual([]);
});

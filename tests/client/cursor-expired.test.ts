import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { FakeServer, fileEntry, honest } from "../hostile/_fake-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { SyncProcess } from "./_sync-process.ts";

// A folder whose cursor points before what the server's retention kept (design item 7): the
// server answers its pull `cursor_expired`; the client compares its whole folder with the
// server's current tree instead of failing or asking again for ever.

setDefaultTimeout(30_000);

const TOKEN = `dst_0123456789ab_${"C".repeat(43)}`;
const enc = (s: string) => new TextEncoder().encode(s);

test("a cursor past retention resyncs from the current tree: stale files are downloaded, not uploaded over newer ones, and nothing is deleted", async () => {
  await using dir = await tempDir("dropsim-cursor-expired-");
  const folder = dir.join("folder");
  const a1 = fileEntry("a.txt", enc("a, version 1\n"), 1);
  const d2 = fileEntry("d.txt", enc("d, kept here\n"), 2);
  const state = { head: 2, entries: [a1.entry, d2.entry], blocks: new Map([...a1.blocks, ...d2.blocks]) };
  let prunedThrough = 0;
  const script = honest(state, (conn, f) => {
    const m = f.json;
    if (m?.type !== "changes" || (m.since as number) === 0 || (m.since as number) >= prunedThrough) return false;
    conn.send({ type: "error", id: m.id, code: "cursor_expired", message: `Change ${m.since} is older than what this share keeps` });
    return true;
  });
  using fake = new FakeServer(script);
  const args = [folder, "--server", fake.address, "--share", "default", "--token", TOKEN];
  {
    await using first = new SyncProcess(args);
    await waitFor("both files downloaded", async () => (await fs.readFile(`${folder}/d.txt`, "utf8").catch(() => "")) === "d, kept here\n" || "not yet");
    await first.waitForLine(/Idle: folder and server agree/);
  }

  // While the folder was away: a.txt changed, c.txt came, d.txt was deleted and its tombstone
  // dropped by retention with every row up to 4.
  const a5 = fileEntry("a.txt", enc("a, version 5\n"), 5);
  const c6 = fileEntry("c.txt", enc("c, new\n"), 6);
  state.entries = [a5.entry, c6.entry];
  state.head = 6;
  for (const [h, b] of [...a5.blocks, ...c6.blocks]) state.blocks.set(h, b);
  prunedThrough = 4;

  await using second = new SyncProcess(args);
  await second.waitForLine(/no longer keeps the changes after 2/);
  await waitFor("a.txt and c.txt downloaded", async () => {
    const a = await fs.readFile(`${folder}/a.txt`, "utf8").catch(() => "");
    const c = await fs.readFile(`${folder}/c.txt`, "utf8").catch(() => "");
    return (a === "a, version 5\n" && c === "c, new\n") || `a.txt ${JSON.stringify(a)}, c.txt ${JSON.stringify(c)}`;
  });
  // d.txt stays, and goes up again as a file the server lacks; a.txt is never sent back.
  await waitFor("d.txt uploaded again", () => fake.messages("apply").some((m) => JSON.stringify(m).includes('"d.txt"')) || "no apply of d.txt yet");
  expect(await fs.readFile(`${folder}/d.txt`, "utf8")).toBe("d, kept here\n");
  expect(fake.messages("apply").some((m) => JSON.stringify(m).includes('"a.txt"'))).toBe(false);
  // One full listing after the refusal, not a loop of refused pulls.
  const sinces = fake.messages("changes").map((m) => m.since as number);
  expect(sinces.filter((s) => s > 0 && s < prunedThrough).length).toBe(1);
});

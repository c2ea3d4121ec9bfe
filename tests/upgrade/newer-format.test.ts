import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { LocalIndex } from "../../src/client/local-index.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { openStores } from "../../src/store/open.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// A binary replaced by an older one meets files in a format it does not know: it must refuse
// them with a sentence that says why, never read or "migrate" them.
const FAR_FUTURE = 10_000;

function stampNewer(file: string): void {
  const db = new Database(file);
  try {
    db.exec(`PRAGMA user_version = ${FAR_FUTURE}`);
  } finally {
    db.close();
  }
}

test("a state.db written by a newer dropsim is refused, saying so", async () => {
  await using dir = await tempDir("dropsim-newer-");
  const runtime = await loadRuntime();
  const file = dir.join("state.db");
  new LocalIndex(runtime.openDatabase(file)).close();
  stampNewer(file);
  expect(() => new LocalIndex(runtime.openDatabase(file))).toThrow(/state\.db.* newer/);
});

test.each(["meta.db", "index.db"])("a data dir whose %s a newer dropsim wrote is refused, saying so", async (name) => {
  await using dir = await tempDir("dropsim-newer-");
  const runtime = await loadRuntime();
  const data = dir.join("data");
  await (await openStores(data, runtime)).close();
  const found = (await fs.readdir(data, { recursive: true })).filter((rel) => path.basename(rel) === name);
  expect(found).toHaveLength(1);
  stampNewer(path.join(data, found[0]!));
  await expect(openStores(data, runtime)).rejects.toThrow(new RegExp(`${name.replace(".", "\\.")}.* newer`));
});

import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import { TempFile } from "../../src/fsutil/atomic-write.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.[Symbol.asyncDispose]();
  dir = undefined;
});

const PAST_MS = Date.UTC(2021, 2, 4, 5, 6, 7, 891) + 0.25;
const bytes = (s: string) => new TextEncoder().encode(s);

test("commit gives the file the modification time asked for, and returns the stat that has it", async () => {
  dir = await tempDir();
  const tmp = await TempFile.create(dir.path);
  await tmp.write(bytes("hello"));
  const returned = await tmp.commit(dir.join("f.txt"), PAST_MS);
  const st = await fs.stat(dir.join("f.txt"));
  expect(Math.abs(st.mtimeMs - PAST_MS)).toBeLessThan(0.001);
  expect(returned.mtimeMs).toBe(st.mtimeMs);
  expect(returned.ino).toBe(st.ino);
});

test("commit of a patched copy gives it the modification time asked for", async () => {
  dir = await tempDir();
  await fs.writeFile(dir.join("old.txt"), "hello world");
  const tmp = await TempFile.copyOf(dir.join("old.txt"), dir.path, 0o644, 11);
  tmp.writeAt(bytes("HELLO"), 0);
  const returned = await tmp.commit(dir.join("old.txt"), PAST_MS);
  expect(await fs.readFile(dir.join("old.txt"), "utf8")).toBe("HELLO world");
  expect(returned.mtimeMs).toBe((await fs.stat(dir.join("old.txt"))).mtimeMs);
  expect(Math.abs(returned.mtimeMs - PAST_MS)).toBeLessThan(0.001);
});

test("commit without a time leaves the time of writing", async () => {
  dir = await tempDir();
  const before = Date.now();
  const tmp = await TempFile.create(dir.path);
  await tmp.write(bytes("now"));
  const returned = await tmp.commit(dir.join("f.txt"));
  // Coarse file system clocks lag the wall clock by up to a tick.
  expect(returned.mtimeMs).toBeGreaterThanOrEqual(before - 20);
});

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describeHolder, type LockHolder, takeDirLock } from "../../src/fsutil/dir-lock.ts";

let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dropsim-lock-"));
  file = path.join(dir, "x.lock");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const holderIn = (f: string): LockHolder => JSON.parse(fs.readFileSync(f, "utf8"));

function take(): { release(): void } {
  const taken = takeDirLock(file);
  if (!("lock" in taken)) throw new Error(`expected the lock, held by ${JSON.stringify(taken.holder)}`);
  return taken.lock;
}

describe("takeDirLock", () => {
  test("takeDirLock writes this process into a new lock file and leaves nothing else behind", () => {
    take();
    expect(holderIn(file)).toMatchObject({ pid: process.pid, host: os.hostname() });
    expect(fs.readdirSync(dir)).toEqual(["x.lock"]);
  });

  test("takeDirLock names the live holder instead of taking its lock", () => {
    const live: LockHolder = { pid: process.ppid, host: os.hostname(), started: "2026-12-01T00:00:00.000Z" };
    fs.writeFileSync(file, JSON.stringify(live));
    expect(takeDirLock(file)).toEqual({ holder: live });
    expect(holderIn(file)).toEqual(live);
  });

  test.each([
    ["a pid that no longer runs here", JSON.stringify({ pid: 2 ** 22 + 1, host: os.hostname(), started: "x" })],
    ["this very pid (a restarted container)", JSON.stringify({ pid: process.pid, host: os.hostname(), started: "x" })],
    ["an empty file", ""],
    ["something that is not a lock", '{"pid":"1"}'],
  ])("takeDirLock takes over a lock naming %s", (_what, text) => {
    fs.writeFileSync(file, text);
    take();
    expect(holderIn(file).pid).toBe(process.pid);
    expect(fs.readdirSync(dir)).toEqual(["x.lock"]);
  });

  test("takeDirLock leaves a lock of another host alone, and says which file to delete", () => {
    const far: LockHolder = { pid: 2 ** 22 + 1, host: "elsewhere.example", started: "x" };
    fs.writeFileSync(file, JSON.stringify(far));
    expect(takeDirLock(file)).toEqual({ holder: far });
    expect(describeHolder(far, file)).toBe(`pid ${far.pid} on elsewhere.example (started x); if that process has stopped, delete "${file}"`);
  });
});

describe("DirLock.release", () => {
  test("release removes the lock file, and a second take then succeeds", () => {
    take().release();
    expect(fs.existsSync(file)).toBe(false);
    take();
  });

  test("release leaves a lock file that someone else holds now", () => {
    const lock = take();
    const other: LockHolder = { pid: process.ppid, host: os.hostname(), started: "y" };
    fs.writeFileSync(file, JSON.stringify(other));
    lock.release();
    expect(holderIn(file)).toEqual(other);
  });
});

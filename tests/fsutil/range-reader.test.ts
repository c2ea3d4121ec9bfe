import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { TempFile } from "../../src/fsutil/atomic-write.ts";
import { RangeReader } from "../../src/fsutil/range-reader.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const temp = await tempDir("dropsim-range-reader-");
const dir = temp.path;
afterAll(() => temp.remove());

function pattern(n: number, salt = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + salt) & 0xff);
}

describe("RangeReader", () => {
  const file = path.join(dir, "data.bin");
  const data = pattern(3 * 1024 * 1024 + 123);
  fs.writeFileSync(file, data);

  test("reads any range, within and across read-ahead windows, in any order", async () => {
    const r = new RangeReader(() => {});
    for (const [offset, size] of [[0, 10], [5, 100], [1024 * 1024 - 3, 7], [2 * 1024 * 1024 + 17, 1024 * 1024 - 17 + 100], [3, 3], [data.length - 1, 1]] as const) {
      expect(await r.read(file, offset, size)).toEqual(data.subarray(offset, offset + size));
    }
    await r.close();
  });

  test("a range past the end of the file or of a missing file is undefined", async () => {
    const r = new RangeReader(() => {});
    expect(await r.read(file, data.length - 5, 10)).toBeUndefined();
    expect(await r.read(path.join(dir, "absent"), 0, 1)).toBeUndefined();
    await r.close();
  });

  test("forget drops what was read ahead, so a replaced file is read anew", async () => {
    const f = path.join(dir, "replaced.bin");
    fs.writeFileSync(f, pattern(1000, 1));
    const r = new RangeReader(() => {});
    expect(await r.read(f, 0, 4)).toEqual(pattern(4, 1));
    fs.writeFileSync(path.join(dir, "next.bin"), pattern(1000, 2));
    fs.renameSync(path.join(dir, "next.bin"), f);
    await r.forget(f);
    expect(await r.read(f, 0, 4)).toEqual(pattern(4, 2));
    await r.close();
  });
});

describe("TempFile buffering", () => {
  test("small writes reach the file by flush and by commit, in order", async () => {
    const tmp = await TempFile.create(dir, 0o644, 100);
    const parts = [pattern(30, 1), pattern(50, 2), pattern(40, 3), pattern(250, 4), pattern(7, 5)];
    await tmp.write(parts[0]!);
    await tmp.write(parts[1]!);
    expect(fs.statSync(tmp.path).size).toBe(0);
    await tmp.flush();
    expect(fs.readFileSync(tmp.path)).toEqual(Buffer.from([...parts[0]!, ...parts[1]!]));
    for (const p of parts.slice(2)) await tmp.write(p);
    const target = path.join(dir, "committed.bin");
    await tmp.commit(target);
    expect(new Uint8Array(fs.readFileSync(target))).toEqual(Uint8Array.from(parts.flatMap((p) => [...p])));
  });
});

describe("TempFile.copyOf", () => {
  test("starts as a copy of the source, cut or grown to the new size, patched by writeAt, committed with the new mode", async () => {
    const src = path.join(dir, "old.bin");
    const old = pattern(200_000, 3);
    fs.writeFileSync(src, old, { mode: 0o644 });
    const tmp = await TempFile.copyOf(src, dir, 0o755, 150_000);
    tmp.writeAt(Uint8Array.of(9, 9, 9), 1000);
    const target = path.join(dir, "new.bin");
    const st = await tmp.commit(target);
    const got = fs.readFileSync(target);
    const want = old.slice(0, 150_000);
    want.set([9, 9, 9], 1000);
    expect(Buffer.compare(got, Buffer.from(want))).toBe(0);
    expect(fs.statSync(target).mode & 0o777).toBe(0o755);
    expect(st.ino).toBe(fs.statSync(target).ino);
    // The source is untouched.
    expect(Buffer.compare(fs.readFileSync(src), Buffer.from(old))).toBe(0);
  });

  test("a missing source fails and leaves no temp file behind", async () => {
    const before = fs.readdirSync(dir).length;
    await expect(TempFile.copyOf(path.join(dir, "nope.bin"), dir, 0o644, 10)).rejects.toThrow();
    expect(fs.readdirSync(dir).length).toBe(before);
  });
});

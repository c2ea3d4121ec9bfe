import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadRuntime } from "../../src/runtime/index.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const temp = await tempDir("dropsim-copy-range-");
const { copyRange } = await loadRuntime();
afterAll(() => temp.remove());

test("copyRange copies a byte range between offsets of two files, or reports copying nothing", async () => {
  const src = path.join(temp.path, "src.bin");
  const dst = path.join(temp.path, "dst.bin");
  const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7 + 3) & 0xff);
  fs.writeFileSync(src, data);
  fs.writeFileSync(dst, new Uint8Array(200_000));
  const fin = fs.openSync(src, "r");
  const fout = fs.openSync(dst, "r+");
  try {
    const n = copyRange(fin, 1000, fout, 50_000, 100_000);
    const got = fs.readFileSync(dst);
    if (process.platform === "linux") expect(n).toBe(100_000);
    if (n === 0) return; // not supported here: callers write the bytes themselves
    expect(n).toBe(100_000);
    expect(Buffer.compare(got.subarray(50_000, 150_000), Buffer.from(data.subarray(1000, 101_000)))).toBe(0);
    expect(got.subarray(0, 50_000).every((b) => b === 0)).toBe(true);
    expect(got.subarray(150_000).every((b) => b === 0)).toBe(true);
    // Past the source's end it copies what there is.
    expect(copyRange(fin, 290_000, fout, 0, 50_000)).toBe(10_000);
  } finally {
    fs.closeSync(fin);
    fs.closeSync(fout);
  }
});

test("copyRange copies a range longer than the pieces it copies at a time whole, at odd offsets", async () => {
  const src = path.join(temp.path, "long-src.bin");
  const dst = path.join(temp.path, "long-dst.bin");
  // Bytes that differ from one piece to the next: a piece copied to the wrong place shows.
  const data = new Uint8Array(40 * 1024 * 1024 + 77);
  for (let i = 0; i < data.length; i += 4096) data.fill((i >> 12) % 251, i, i + 4096);
  fs.writeFileSync(src, data);
  fs.writeFileSync(dst, new Uint8Array(0));
  const fin = fs.openSync(src, "r");
  const fout = fs.openSync(dst, "r+");
  try {
    const n = copyRange(fin, 5, fout, 3, data.length - 5);
    if (n === 0) return; // not supported here
    expect(n).toBe(data.length - 5);
    const got = fs.readFileSync(dst);
    expect(got.length).toBe(data.length - 2);
    expect(Buffer.compare(got.subarray(3), Buffer.from(data.subarray(5)))).toBe(0);
  } finally {
    fs.closeSync(fin);
    fs.closeSync(fout);
  }
});

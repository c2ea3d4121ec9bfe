import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { ensureAdhocSignature } from "../../scripts/build-binaries.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// The build re-signs darwin binaries whose signature Bun left stale. A tiny synthetic Mach-O
// (header, __TEXT, LC_CODE_SIGNATURE, three pages of code) stands in for a 100 MB binary.

const CODE = 3 * 4096 + 100;
const SIG_SIZE = 4096;

function fakeMachO(): Buffer {
  const b = Buffer.alloc(CODE + SIG_SIZE);
  b.writeUInt32LE(0xfeedfacf, 0);
  b.writeUInt32LE(2, 16); // ncmds
  let off = 32;
  b.writeUInt32LE(0x19, off); // LC_SEGMENT_64 __TEXT
  b.writeUInt32LE(72, off + 4);
  b.write("__TEXT", off + 8, "latin1");
  b.writeBigUInt64LE(4096n, off + 48); // filesize
  off += 72;
  b.writeUInt32LE(0x1d, off); // LC_CODE_SIGNATURE
  b.writeUInt32LE(16, off + 4);
  b.writeUInt32LE(CODE, off + 8);
  b.writeUInt32LE(SIG_SIZE, off + 12);
  for (let i = 200; i < CODE; i++) b[i] = (i * 7) & 0xff;
  return b;
}

let dir: TempDir;
beforeAll(async () => {
  dir = await tempDir("dropsim-macho-");
});
afterAll(async () => {
  await dir.remove();
});

test("ensureAdhocSignature signs an unsigned Mach-O so every page hash matches, then leaves it alone", async () => {
  const file = dir.join("app");
  await Bun.write(file, fakeMachO());
  expect(await ensureAdhocSignature(file)).toBe("re-signed");
  const b = Buffer.from(await Bun.file(file).bytes());
  const cd = CODE + 20;
  expect(b.readUInt32BE(CODE)).toBe(0xfade0cc0);
  expect(b.readUInt32BE(cd + 28)).toBe(4); // pages
  expect(b.readUInt32BE(cd + 32)).toBe(CODE); // codeLimit
  const lastPage = createHash("sha256").update(b.subarray(3 * 4096, CODE)).digest();
  const hashOffset = b.readUInt32BE(cd + 16);
  expect(b.subarray(cd + hashOffset + 3 * 32, cd + hashOffset + 4 * 32).equals(lastPage)).toBe(true);
  expect(await ensureAdhocSignature(file)).toBe("valid");
});

test("ensureAdhocSignature re-signs a Mach-O whose code changed after signing", async () => {
  const file = dir.join("changed");
  await Bun.write(file, fakeMachO());
  await ensureAdhocSignature(file);
  const b = Buffer.from(await Bun.file(file).bytes());
  b[5000] = b[5000]! ^ 0xff;
  await Bun.write(file, b);
  expect(await ensureAdhocSignature(file)).toBe("re-signed");
  expect(await ensureAdhocSignature(file)).toBe("valid");
});

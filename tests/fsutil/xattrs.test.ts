import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import { encodeXattrs, isTooLarge, XATTR_LIMIT, type XattrSet } from "../../src/core/xattrs.ts";
import { readXattrs, writeXattrs } from "../../src/fsutil/xattrs.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import type { Xattrs } from "../../src/runtime/types.ts";
import { NO_XATTRS } from "../../src/runtime/xattr-libc.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// On the real file system, through the runtime `loadRuntime` assembles, checked against
// Python's os.*xattr (its own binding of the same calls) where python3 is installed.

const runtime = await loadRuntime();
const { xattrs } = runtime;
const PLATFORM = process.platform;
const PYTHON = PLATFORM === "linux" ? Bun.which("python3") : null;
const bytes = (s: string) => new TextEncoder().encode(s);
const b64 = (s: string) => bytes(s).toBase64();

/** Whether files in `dir` take user attributes of `size` bytes; what stops them otherwise. */
async function probe(dir: string, size = 4): Promise<true | string> {
  if (!xattrs.supported) return `no xattr adapter on ${runtime.name}/${PLATFORM}`;
  const file = `${dir}/.xattr-probe-${process.pid}`;
  await fs.writeFile(file, "");
  try {
    xattrs.set(file, "user.dropsim-probe", new Uint8Array(size));
    return true;
  } catch (e) {
    return `${dir} refuses user xattrs: ${(e as NodeJS.ErrnoException).code}`;
  } finally {
    await fs.rm(file, { force: true });
  }
}

const support = await probe(os.tmpdir());
if (support !== true) console.warn(`tests/fsutil/xattrs: skipped: ${support}`);

/** The attributes of `path` as Python reads them (symlinks not followed): name → base64. */
function pythonXattrs(path: string): Record<string, string> {
  const script =
    "import base64,json,os,sys\np=sys.argv[1]\n" +
    "print(json.dumps({n: base64.b64encode(os.getxattr(p, n, follow_symlinks=False)).decode() for n in os.listxattr(p, follow_symlinks=False)}))";
  const out = Bun.spawnSync([PYTHON!, "-c", script, path], { stderr: "pipe" });
  if (out.exitCode !== 0) throw new Error(`Cannot list xattrs with python3: ${out.stderr.toString()}`);
  return JSON.parse(out.stdout.toString());
}

function pythonSet(path: string, name: string, value: Uint8Array): void {
  const script = "import base64,os,sys\nos.setxattr(sys.argv[1], sys.argv[2], base64.b64decode(sys.argv[3]), follow_symlinks=False)";
  const out = Bun.spawnSync([PYTHON!, "-c", script, path, name, value.toBase64()], { stderr: "pipe" });
  if (out.exitCode !== 0) throw new Error(`Cannot set xattr with python3: ${out.stderr.toString()}`);
}

/** Sets through Python where it is installed, so that reading tests do not lean on our own `set`. */
const setOutside = (path: string, name: string, value: Uint8Array) => (PYTHON ? pythonSet(path, name, value) : xattrs.set(path, name, value));

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.remove();
  dir = undefined;
});

async function file(name: string, content = "x"): Promise<string> {
  dir ??= await tempDir("dropsim-xattrs-");
  await fs.writeFile(dir.join(name), content);
  return dir.join(name);
}

describe.skipIf(support !== true)("xattr adapter", () => {
  test("list and get see what another program set, on a path and on a descriptor", async () => {
    const p = await file("a.txt");
    setOutside(p, "user.comment", bytes("hello"));
    setOutside(p, "user.bin", new Uint8Array([0, 255, 0]));
    setOutside(p, "user.empty", new Uint8Array(0));
    await using handle = await fs.open(p, "r");
    for (const target of [p, handle.fd]) {
      expect(xattrs.list(target).sort()).toEqual(["user.bin", "user.comment", "user.empty"]);
      expect(xattrs.get(target, "user.comment")).toEqual(bytes("hello"));
      expect(xattrs.get(target, "user.bin")).toEqual(new Uint8Array([0, 255, 0]));
      expect(xattrs.get(target, "user.empty")).toEqual(new Uint8Array(0));
      expect(xattrs.get(target, "user.absent")).toBeUndefined();
    }
  });

  test.skipIf(!PYTHON)("set and remove on a descriptor are what another program sees", async () => {
    const p = await file("b.txt");
    await using handle = await fs.open(p, "r+");
    xattrs.set(handle.fd, "user.a", bytes("1"));
    xattrs.set(handle.fd, "user.b", new Uint8Array(3000).fill(7));
    expect(pythonXattrs(p)).toEqual({ "user.a": b64("1"), "user.b": new Uint8Array(3000).fill(7).toBase64() });
    expect(xattrs.remove(handle.fd, "user.a")).toBe(true);
    expect(xattrs.remove(handle.fd, "user.a")).toBe(false);
    expect(pythonXattrs(p)).toEqual({ "user.b": new Uint8Array(3000).fill(7).toBase64() });
  });

  test("a path that is a symlink is never followed", async () => {
    const p = await file("target.txt");
    setOutside(p, "user.tag", bytes("red"));
    await fs.symlink("target.txt", dir!.join("link"));
    expect(xattrs.list(dir!.join("link"))).not.toContain("user.tag");
    expect(xattrs.get(dir!.join("link"), "user.tag")).toBeUndefined();
    // Linux keeps no user attributes on symlinks; what matters is that the target is untouched.
    try {
      xattrs.set(dir!.join("link"), "user.tag", bytes("blue"));
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe("EPERM");
    }
    expect(xattrs.get(p, "user.tag")).toEqual(bytes("red"));
  });

  test("a failure carries the errno's code and names the file", async () => {
    dir ??= await tempDir("dropsim-xattrs-");
    const missing = dir.join("missing");
    expect(() => xattrs.list(missing)).toThrow(expect.objectContaining({ code: "ENOENT", syscall: "listxattr", path: missing }));
    expect(() => xattrs.get(missing, "user.a")).toThrow(`Cannot getxattr on "${missing}": ENOENT`);
    expect(() => xattrs.get(-1, "user.a")).toThrow(expect.objectContaining({ code: "EBADF" }));
  });
});

describe.skipIf(support !== true)("readXattrs", () => {
  test("readXattrs gives the canonical set of the synced attributes", async () => {
    const p = await file("tags.txt");
    setOutside(p, "user.xdg.tags", bytes("red,work"));
    setOutside(p, "user.a", new Uint8Array([1, 2, 3]));
    await using handle = await fs.open(p, "r");
    const expected: XattrSet = [
      ["user.a", new Uint8Array([1, 2, 3]).toBase64()],
      ["user.xdg.tags", b64("red,work")],
    ];
    expect(readXattrs(runtime, handle.fd)).toEqual(expected);
    expect(readXattrs(runtime, p)).toEqual(expected);
  });

  test("readXattrs of a file without attributes is the empty set", async () => {
    expect(readXattrs(runtime, await file("plain.txt"))).toEqual([]);
  });

  test("readXattrs leaves out names that do not sync here", async () => {
    const p = await file("mixed.txt");
    setOutside(p, "user.keep", bytes("1"));
    const fake: Xattrs = { ...xattrs, list: (t) => [...xattrs.list(t), "security.selinux", "trusted.x"] };
    expect(readXattrs({ xattrs: fake }, p)).toEqual([["user.keep", b64("1")]]);
  });

  test("readXattrs reports a set over 64 KiB as too large", async () => {
    const big = new Uint8Array(40_000);
    const fake: Xattrs = { ...NO_XATTRS, supported: true, list: () => ["user.a", "user.b"], get: () => big };
    expect(readXattrs({ xattrs: fake }, "/nowhere")).toEqual({ tooLarge: true, bytes: 2 * (40_000 + 6) });
  });

  test("readXattrs leaves out an attribute removed between list and get", async () => {
    const p = await file("race.txt");
    setOutside(p, "user.stays", bytes("1"));
    const fake: Xattrs = { ...xattrs, list: (t) => [...xattrs.list(t), "user.gone"] };
    expect(readXattrs({ xattrs: fake }, p)).toEqual([["user.stays", b64("1")]]);
  });

  test("readXattrs is undefined where the runtime or file system keeps no attributes", async () => {
    const p = await file("none.txt");
    expect(readXattrs({ xattrs: NO_XATTRS }, p)).toBeUndefined();
    const refusing: Xattrs = { ...xattrs, list: () => NO_XATTRS.list(p) };
    expect(readXattrs({ xattrs: refusing }, p)).toBeUndefined();
  });
});

/** A folder whose file system holds more than 64 KiB of user attributes per file (tmpfs does; ext4 fits one block). */
const roomy = await (async () => {
  for (const candidate of [os.tmpdir(), "/dev/shm"]) {
    const ok = await fs
      .access(candidate)
      .then(() => probe(candidate, 40_000))
      .catch(() => false);
    if (ok !== true) continue;
    if ((await probe(candidate, 30_000)) === true) return candidate;
  }
  return undefined;
})();

test.skipIf(!roomy)("readXattrs of a real file over 64 KiB is too large", async () => {
  const p = `${roomy}/dropsim-xattr-big-${process.pid}`;
  await fs.writeFile(p, "");
  try {
    xattrs.set(p, "user.a", new Uint8Array(40_000));
    xattrs.set(p, "user.b", new Uint8Array(30_000));
    const result = readXattrs(runtime, p);
    expect(isTooLarge(result)).toBe(true);
    expect((result as { bytes: number }).bytes).toBeGreaterThan(XATTR_LIMIT);
  } finally {
    await fs.rm(p, { force: true });
  }
});

describe.skipIf(support !== true)("writeXattrs", () => {
  const set = encodeXattrs([
    ["user.xdg.tags", bytes("blue")],
    ["user.bin", new Uint8Array([0, 1, 254, 255])],
    ["user.empty", new Uint8Array(0)],
  ]) as XattrSet;

  test("writeXattrs on a temp file's descriptor before its rename gives the final file the set", async () => {
    const tmp = await file(".dropsim-tmp-1");
    await using handle = await fs.open(tmp, "r+");
    expect(writeXattrs(runtime, handle.fd, set)).toEqual({ skipped: [] });
    await fs.rename(tmp, dir!.join("final.txt"));
    expect(readXattrs(runtime, dir!.join("final.txt"))).toEqual(set);
    if (PYTHON) expect(pythonXattrs(dir!.join("final.txt"))).toEqual(Object.fromEntries(set));
  });

  test("writeXattrs makes an existing file's synced attributes exactly the set", async () => {
    const p = await file("existing.txt");
    setOutside(p, "user.stale", bytes("old"));
    setOutside(p, "user.xdg.tags", bytes("red"));
    expect(writeXattrs(runtime, p, set)).toEqual({ skipped: [] });
    expect(readXattrs(runtime, p)).toEqual(set);
    expect(writeXattrs(runtime, p, [])).toEqual({ skipped: [] });
    expect(readXattrs(runtime, p)).toEqual([]);
  });

  test("writeXattrs leaves attributes that do not sync here alone", async () => {
    const p = await file("keep.txt");
    const kept = new Map([["trusted.dropsim", bytes("mine")]]);
    const fake: Xattrs = {
      ...xattrs,
      list: (t) => [...xattrs.list(t), ...kept.keys()],
      remove: (t, name) => (name.startsWith("user.") ? xattrs.remove(t, name) : kept.delete(name)),
    };
    expect(writeXattrs({ xattrs: fake }, p, [])).toEqual({ skipped: [] });
    expect([...kept.keys()]).toEqual(["trusted.dropsim"]);
  });

  test("writeXattrs of an unchanged set writes nothing, so the file keeps its ctime", async () => {
    const p = await file("same.txt");
    writeXattrs(runtime, p, set);
    const before = await fs.stat(p, { bigint: true });
    await Bun.sleep(20); // ctime has a clock tick to show a write
    expect(writeXattrs(runtime, p, set)).toEqual({ skipped: [] });
    expect((await fs.stat(p, { bigint: true })).ctimeNs).toBe(before.ctimeNs);
  });

  test("writeXattrs skips a name this OS does not sync and one the file system refuses, and writes the rest", async () => {
    const p = await file("partial.txt");
    const huge = new Uint8Array(XATTR_LIMIT + 1).toBase64(); // over the kernel's 64 KiB per value: E2BIG
    const mixed: XattrSet = [
      ["com.apple.FinderInfo", new Uint8Array(32).toBase64()],
      ["user.huge", huge],
      ["user.ok", b64("yes")],
    ];
    const result = writeXattrs(runtime, p, mixed, "linux");
    expect(result).toEqual({
      skipped: [
        { name: "com.apple.FinderInfo", reason: "not synced on linux" },
        { name: "user.huge", reason: expect.stringMatching(/^the file system refused it: (E2BIG|ENOSPC|ERANGE)$/) },
      ],
    });
    expect(readXattrs(runtime, p)).toEqual([["user.ok", b64("yes")]]);
  });
});

describe("writeXattrs without xattrs", () => {
  test("writeXattrs is unsupported for a set with attributes, and does nothing for an empty one", () => {
    expect(writeXattrs({ xattrs: NO_XATTRS }, "/nowhere", [["user.a", ""]])).toBe("unsupported");
    expect(writeXattrs({ xattrs: NO_XATTRS }, "/nowhere", [])).toEqual({ skipped: [] });
  });

  test("writeXattrs is unsupported where the file system refuses user attributes", () => {
    const refusing: Xattrs = { ...NO_XATTRS, supported: true, list: () => [] };
    expect(writeXattrs({ xattrs: refusing }, "/nowhere", [["user.a", ""]])).toBe("unsupported");
  });
});

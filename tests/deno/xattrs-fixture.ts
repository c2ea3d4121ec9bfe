/**
 * Run by tests/deno/xattrs.test.ts under Deno: reads the attributes of the file given, through
 * the runtime `loadRuntime` assembles there, adds one by descriptor, and prints what it saw.
 */
import * as fs from "node:fs/promises";
import process from "node:process";
import { encodeXattrs, isTooLarge } from "../../src/core/xattrs.ts";
import { readXattrs, writeXattrs } from "../../src/fsutil/xattrs.ts";
import { loadRuntime } from "../../src/runtime/index.ts";

const file = process.argv.at(-1)!;
const runtime = await loadRuntime();
const report: Record<string, unknown> = { runtime: runtime.name, supported: runtime.xattrs.supported };
if (runtime.xattrs.supported) {
  const handle = await fs.open(file, "r+");
  try {
    const before = readXattrs(runtime, handle.fd);
    if (before === undefined || isTooLarge(before)) throw new Error(`Cannot read the attributes of "${file}": ${JSON.stringify(before)}`);
    const added = encodeXattrs([...before.map(([n, v]): [string, Uint8Array] => [n, Uint8Array.fromBase64(v)]), ["user.from-deno", new TextEncoder().encode("hello from deno")]]);
    if (isTooLarge(added)) throw new Error("Cannot add an attribute: too large");
    report.before = before;
    report.written = writeXattrs(runtime, handle.fd, added);
    report.after = readXattrs(runtime, file);
    report.absent = runtime.xattrs.get(file, "user.absent") ?? null;
  } finally {
    await handle.close();
  }
}
console.log(JSON.stringify(report));

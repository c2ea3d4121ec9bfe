import { describe, expect, test } from "bun:test";
import { categorize, hotPages, type KnownCode, parsePerfScript, splitOf, total } from "../../bench/lib/perf-split.ts";

const BUN = "/work/node_modules/bun/bin/bun.exe";
const SCRIPT = `
   100/100  ffffffff815a4bc1 copy_folio_from_iter_atomic ([kernel.kallsyms])
   100/100           217e3a0 [unknown] (${BUN})
   100/100           2797010 [unknown] (${BUN})
   100/100      7f05c2a44c78 __memmove_avx_unaligned_erms (/usr/lib/x86_64-linux-gnu/libc.so.6)
   100/100      7f2eeab2fa80 [unknown] (/tmp/perf-100.map)
   100/100           1a44010 [unknown] (${BUN})
   100/104           1a44010 [unknown] (${BUN})
   100/104  ffffffff81000130 entry_SYSCALL_64_after_hwframe ([kernel.kallsyms])
   200/200           217e3a0 [unknown] (${BUN})
not a sample line
`;
const code: KnownCode = { sha: new Set([0x217e]), aes: new Set([0x2797]) };

describe("perf-split", () => {
  const samples = parsePerfScript(SCRIPT);

  test("parses every sample line and nothing else", () => {
    expect(samples).toHaveLength(9);
    expect(samples[0]).toMatchObject({ pid: 100, tid: 100, sym: "copy_folio_from_iter_atomic", dso: "[kernel.kallsyms]" });
    expect(samples[1]).toEqual({ pid: 100, tid: 100, ip: 0x217e3a0, sym: "[unknown]", dso: BUN });
    expect(samples[4]!.dso).toBe("/tmp/perf-100.map");
  });

  test("files each sample by the code it hit and the thread it ran on", () => {
    expect(samples.slice(0, 8).map((s) => categorize(s, code))).toEqual(["kernel", "sha", "aes", "copy", "js", "runtime", "threads", "kernel"]);
  });

  test("splits one process, all its threads, and no other", () => {
    const split = splitOf(samples, 100, code);
    expect(total(split)).toBe(8);
    expect(split.kernel).toBe(2);
    expect(split.sha).toBe(1);
  });

  test("hot pages are Bun's pages holding at least the share", () => {
    // Of 9 samples, Bun's page 0x217e holds 2 and 0x1a44 holds 2; 0x2797 holds 1.
    expect([...hotPages(samples, 0.2)].sort()).toEqual([0x1a44, 0x217e]);
    expect(hotPages(samples, 0.5).size).toBe(0);
  });
});

import { describe, expect, test } from "bun:test";
import { Admission, DEFAULT_LIMITS, ipOf } from "../../src/server/admission.ts";

const limits = { ...DEFAULT_LIMITS, maxPendingPerIp: 2, maxPending: 3 };

describe("Admission", () => {
  test("pending connections are bounded per IP and in total, and free their place when settled", () => {
    const a = new Admission(limits);
    expect(a.open("1.1.1.1")).toBeUndefined();
    expect(a.open("1.1.1.1")).toBeUndefined();
    expect(a.open("1.1.1.1")?.message).toBe("Too many connections from 1.1.1.1 waiting to authenticate (2): try again later");
    expect(a.open("2.2.2.2")).toBeUndefined();
    expect(a.open("3.3.3.3")?.code).toBe("busy");
    expect(a.pendingCount).toBe(3);
    a.settled("1.1.1.1");
    expect(a.open("3.3.3.3")).toBeUndefined();
    a.settled("9.9.9.9"); // never pending: nothing to free
    expect(a.pendingCount).toBe(3);
  });

  test("connections are bounded in all, authenticated or not, and free their place when closed", () => {
    const a = new Admission({ ...limits, maxConnections: 2 });
    expect(a.open("1.1.1.1")).toBeUndefined();
    a.settled("1.1.1.1"); // authenticated: still open
    expect(a.open("2.2.2.2")).toBeUndefined();
    expect(a.full).toBe(true);
    expect(a.open("3.3.3.3")?.message).toBe("The server has as many connections as its open-file limit allows (2): try again later");
    expect(a.connectionCount).toBe(2);
    a.closed();
    expect(a.full).toBe(false);
    expect(a.open("3.3.3.3")).toBeUndefined();
  });

  // Failures at t=0 and later; the hold is 200 ms doubling per failure, at most 25 s.
  test.each([
    { failures: [0], at: 199, held: true },
    { failures: [0], at: 200, held: false },
    { failures: [0, 300], at: 699, held: true },
    { failures: [0, 300], at: 700, held: false },
    { failures: [0, 1, 2, 3, 4, 5, 6, 7], at: 7 + 25_000 - 1, held: true },
    { failures: Array.from({ length: 20 }, (_, i) => i), at: 19 + 25_000, held: false },
    { failures: [], at: 0, held: false },
  ])("after failures at $failures, held at $at: $held", ({ failures, at, held }) => {
    const a = new Admission(limits);
    for (const t of failures) a.failed("1.1.1.1", t);
    expect(a.held("1.1.1.1", at) !== undefined).toBe(held);
    expect(a.held("2.2.2.2", at)).toBeUndefined();
  });

  test("failures are forgotten 12 h after the last one, and then start again at 200 ms", () => {
    const a = new Admission(limits);
    for (let i = 0; i < 10; i++) a.failed("1.1.1.1", i);
    const later = 9 + DEFAULT_LIMITS.backoffForgetMs;
    a.failed("1.1.1.1", later);
    expect(a.held("1.1.1.1", later + 199)).toBeDefined();
    expect(a.held("1.1.1.1", later + 200)).toBeUndefined();
    a.prune(later + DEFAULT_LIMITS.backoffForgetMs);
    expect(a.held("1.1.1.1", later + DEFAULT_LIMITS.backoffForgetMs)).toBeUndefined();
  });

  test("a refusal says when to try again", () => {
    const a = new Admission(limits);
    for (let i = 0; i < 8; i++) a.failed("1.1.1.1", 0);
    expect(a.held("1.1.1.1", 1000)?.message).toBe("Too many failed attempts to authenticate from 1.1.1.1: try again in 24 s");
  });
});

test.each([
  ["127.0.0.1", "127.0.0.1"],
  ["127.0.0.1:51234", "127.0.0.1"],
  ["::ffff:10.0.0.1:443", "::ffff:10.0.0.1"],
  ["::1", "::1"],
  ["fe80::1", "fe80::1"],
])("ipOf(%p) is %p", (remote, ip) => {
  expect(ipOf(remote)).toBe(ip);
});

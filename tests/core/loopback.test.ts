import { expect, test } from "bun:test";
import { isLoopbackHost } from "../../src/core/loopback.ts";

test.each(["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::0:1", "::ffff:127.0.0.1"])("isLoopbackHost takes %p", (host) => {
  expect(isLoopbackHost(host)).toBe(true);
});

test.each(["10.0.0.1", "0.0.0.0", "::", "128.0.0.1", "127.0.0.256", "example.com", "1::1", "::2", "a.localhost", "localhost.example.com", "", "[::1"])(
  "isLoopbackHost refuses %p",
  (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  },
);

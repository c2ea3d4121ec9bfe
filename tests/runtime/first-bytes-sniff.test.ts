import { describe, expect, test } from "bun:test";
import { FIRST_BYTES_KEPT, FirstBytes, looksLikeDropsim, quoteSent } from "../../src/core/not-dropsim.ts";
import { encodeFrame, FrameType } from "../../src/protocol/frame-codec.ts";
import { bunTcp } from "../../src/runtime/tcp-bun.ts";
import { nodeTcp } from "../../src/runtime/tcp-node.ts";
import type { Connection, Tcp } from "../../src/runtime/types.ts";
import { waitFor } from "../helpers/wait-for.ts";

// The adapters keep the first bytes a peer sends, before TLS reads them, so a peer that is not a
// dropsim server is named for what it sent: an SSH banner, an HTTP reply, garbage.

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

describe("quoteSent", () => {
  test.each([
    ["SSH-2.0-OpenSSH_9.6\r\n", `"SSH-2.0-OpenSSH_9.6"`],
    ["HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n", `"HTTP/1.1 400 Bad Request"`],
    ["\x01\x02\xffok", `"\\x01\\x02\\xffok"`],
    ["x".repeat(50), `"${"x".repeat(40)}…"`],
    ["", `""`],
  ])("%j is quoted as %s", (sent, quoted) => expect(quoteSent(bytes(sent))).toBe(quoted));
});

test("FirstBytes keeps the first 64 bytes across reads, and our framing is told from other protocols", () => {
  const first = new FirstBytes();
  first.push(bytes("SSH-2.0-"));
  first.push(bytes("x".repeat(100)));
  first.push(bytes("later"));
  expect(first.bytes.length).toBe(FIRST_BYTES_KEPT);
  expect(new TextDecoder().decode(first.bytes.subarray(0, 9))).toBe("SSH-2.0-x");
  expect(looksLikeDropsim(encodeFrame(FrameType.control, bytes("{}")))).toBe(true);
  expect(looksLikeDropsim(first.bytes)).toBe(false);
});

const adapters: Record<string, Tcp> = { bun: bunTcp(() => {}), node: nodeTcp };

/** A server that writes `greeting` to each connection, at once or on its first read (as HTTP replies to a ClientHello). */
function speaking(greeting: Uint8Array, when: "open" | "data") {
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: (s) => void (when === "open" && s.write(greeting)), data: (s) => void (when === "data" && s.write(greeting)) },
  });
}

describe.each(Object.keys(adapters))("%s adapter", (name) => {
  const tcp = adapters[name]!;
  const events = () => ({ data: () => {}, close: () => {} });

  test.each([
    ["an SSH server", "SSH-2.0-OpenSSH_9.6\r\n", "open", `"SSH-2.0-OpenSSH_9.6"`],
    ["an HTTP server", "HTTP/1.1 400 Bad Request\r\n\r\n", "data", `"HTTP/1.1 400 Bad Request"`],
    ["garbage", "\x07\x07garbage", "data", `"\\x07\\x07garbage"`],
  ] as const)("a TLS connect to %s fails as not_dropsim, quoting it", async (_what, greeting, when, quoted) => {
    using server = speaking(bytes(greeting), when);
    const attempt = tcp.connect("127.0.0.1", server.port, events, true);
    await expect(attempt).rejects.toMatchObject({ code: "not_dropsim", message: `127.0.0.1:${server.port} is not a dropsim server: it sent ${quoted} (check the address and port)` });
  });

  test("a TLS connect to a dropsim server without TLS says to use --insecure", async () => {
    using server = speaking(encodeFrame(FrameType.control, bytes(`{"type":"error"}`)), "data");
    await expect(tcp.connect("127.0.0.1", server.port, events, true)).rejects.toMatchObject({ code: "tls", message: expect.stringContaining("it speaks dropsim without TLS") });
  });

  test("a plain connection keeps the first bytes it received", async () => {
    using server = speaking(bytes("SSH-2.0-OpenSSH_9.6\r\n"), "open");
    const conn: Connection = await tcp.connect("127.0.0.1", server.port, events);
    await waitFor("the banner", () => (conn.firstBytes?.length ?? 0) >= 21 || `${conn.firstBytes?.length} bytes`);
    expect(quoteSent(conn.firstBytes!)).toBe(`"SSH-2.0-OpenSSH_9.6"`);
    conn.close();
  });
});

// Run under Deno by tests/deno/tls-interop.test.ts: node:tls through the runtime adapter says
// hello to a server over TLS and prints the certificate's fingerprint and the reply.
import { encodeFrame, FrameDecoder, FrameType } from "../../src/protocol/frame-codec.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { loadRuntime } from "../../src/runtime/index.ts";

const [port, token] = [Number(process.argv[2]), process.argv[3]];
const runtime = await loadRuntime();
const decoder = new FrameDecoder();
const { promise: reply, resolve } = Promise.withResolvers<string>();
const conn = await runtime.tcp.connect(
  "127.0.0.1",
  port,
  () => ({ data: (bytes) => decoder.push(bytes).forEach((f) => resolve(new TextDecoder().decode(f.body))), close: () => resolve("closed") }),
  true,
);
conn.write(encodeFrame(FrameType.control, new TextEncoder().encode(JSON.stringify({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: "deno-tls", token }))));
console.log(JSON.stringify({ runtime: runtime.name, fingerprint: conn.peerFingerprint, reply: JSON.parse(await reply) }));
conn.close();

import { expect, test } from "bun:test";
import { mayBeTls } from "../../src/runtime/tls.ts";

test.each([
  [0x00, false], // a dropsim frame's length (protocol 1 clients speak plaintext)
  [0x13, false],
  [0x14, true], // change_cipher_spec: a TLS 1.3 client's second record
  [0x15, true],
  [0x16, true], // handshake: the ClientHello
  [0x17, true], // application_data
  [0x18, false],
  [0x47, false], // "GET"
  [undefined, false],
])("a first byte of %p may be TLS: %p", (byte, tls) => {
  expect(mayBeTls(byte)).toBe(tls);
});

import { describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs/promises";
import { certificateSerial, createIdentity, dataDirIdentity, fileIdentity, identityFiles } from "../../src/server/identity.ts";
import { MEMORY_LOCATION } from "../../src/store/open.ts";
import { tempDir } from "../helpers/temp-dir.ts";

test("dataDirIdentity makes a key (owner-only) and certificate on first use and returns the same ones after", async () => {
  await using dir = await tempDir("dropsim-identity-");
  const first = await dataDirIdentity(dir.path);
  const files = identityFiles(dir.path);
  expect((await fs.stat(files.key)).mode & 0o777).toBe(0o600);
  expect((await fs.stat(files.dir)).mode & 0o077).toBe(0);
  expect(await fs.readFile(files.cert, "utf8")).toBe(first.cert);
  expect(await dataDirIdentity(dir.path)).toEqual(first);
});

test("an identity's fingerprint is SHA256: and the hex of the certificate's SHA-256, as openssl shows it", async () => {
  const id = await createIdentity();
  const openssl = new X509Certificate(id.cert).fingerprint256.replaceAll(":", "").toLowerCase();
  expect(id.fingerprint).toBe(`SHA256:${openssl}`);
  expect(new X509Certificate(id.cert).subject).toBe("CN=dropsim server");
});

test("memory: gets a new identity each time and writes nothing", async () => {
  const [a, b] = [await dataDirIdentity(MEMORY_LOCATION), await dataDirIdentity(MEMORY_LOCATION)];
  expect(a.fingerprint).not.toBe(b.fingerprint);
});

test("fileIdentity takes a certificate and its key, and refuses a key that is not the certificate's in one sentence", async () => {
  await using dir = await tempDir("dropsim-identity-");
  const [a, b] = [await createIdentity(), await createIdentity()];
  await fs.writeFile(dir.join("a.pem"), a.cert);
  await fs.writeFile(dir.join("a.key"), a.key);
  await fs.writeFile(dir.join("b.key"), b.key);
  expect(await fileIdentity(dir.join("a.pem"), dir.join("a.key"))).toEqual(a);
  const refused = fileIdentity(dir.join("a.pem"), dir.join("b.key"));
  await expect(refused).rejects.toMatchObject({ code: "tls", message: expect.stringContaining("the key is not the certificate's") });
  await expect(fileIdentity(dir.join("none.pem"), dir.join("a.key"))).rejects.toMatchObject({ code: "tls" });
});

describe("certificate serial numbers", () => {
  // DER: a positive INTEGER in its shortest form. 0x00 first (before a byte below 0x80) or 0x80 and
  // above first (negative) is refused by BoringSSL at the handshake.
  test.each([
    [[0x00, 0x00, 0x12]],
    [[0x00, 0x7f, 0x12]],
    [[0x80, 0x00, 0x00]],
    [[0xff, 0xff, 0xff]],
    [[0x3f, 0x01, 0x02]],
  ])("random bytes %p give a positive, minimal serial", (bytes) => {
    const serial = certificateSerial(Uint8Array.from(bytes));
    expect(serial.length).toBe(bytes.length);
    expect(serial[0]! >= 0x40 && serial[0]! <= 0x7f).toBe(true);
    expect([...serial.subarray(1)]).toEqual(bytes.slice(1));
  });

  test("every certificate made parses as TLS parses it", async () => {
    for (let i = 0; i < 64; i++) {
      const id = await createIdentity();
      expect(new X509Certificate(id.cert).serialNumber).toMatch(/^[4-7][0-9A-F]/);
    }
  });
});

test("dataDirIdentity makes the pair durable, whole, before it returns it", async () => {
  await using dir = await tempDir("dropsim-identity-");
  const files = identityFiles(dir.path);
  const seen: [string, string][] = [];
  const watch = async (d: string) => void seen.push([d, await fs.readFile(files.cert, "utf8")]);
  const made = await dataDirIdentity(dir.path, watch);
  // tls/ for the two names, and the data dir for tls/'s: each with the certificate whole in place.
  expect(seen).toEqual([
    [files.dir, made.cert],
    [dir.path, made.cert],
  ]);
  seen.length = 0;
  await dataDirIdentity(dir.path, watch);
  expect(seen).toEqual([]);
});

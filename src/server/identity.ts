import { createPrivateKey, X509Certificate } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { certificateFingerprint } from "../core/cert-fingerprint.ts";
import { DropsimError } from "../core/errors.ts";
import { encodeFrame, FrameType } from "../protocol/frame-codec.ts";
import { encodeMessage } from "../protocol/messages.ts";
import type { TlsServe } from "../runtime/types.ts";
import { missingFolders, syncCreated } from "../store/data-dir.ts";
import { MEMORY_LOCATION } from "../store/open.ts";

/** What a server shows over TLS: its certificate and key (PEM) and the fingerprint clients pin. */
export interface ServerIdentity {
  cert: string;
  key: string;
  fingerprint: string;
}

/**
 * What the listener needs to serve `identity`. A client of protocol 1 speaks plaintext frames
 * and has no TLS: it is told so in its own framing, as an error it prints.
 */
export function tlsServe(identity: ServerIdentity): TlsServe {
  const message = "This dropsim server speaks only TLS: upgrade this client and join with a token (dropsim sync DIR --join LINK)";
  const plaintextReply = encodeFrame(FrameType.control, encodeMessage({ type: "error", code: "tls_required", message }));
  return { cert: identity.cert, key: identity.key, plaintextReply };
}

/** Where a data dir keeps its identity; the key readable by its owner only. */
export function identityFiles(dataDir: string): { dir: string; cert: string; key: string } {
  const dir = path.join(dataDir, "tls");
  return { dir, cert: path.join(dir, "cert.pem"), key: path.join(dir, "key.pem") };
}

/**
 * The identity of the server on `location`: the one its data dir keeps, made on first use
 * (`serve`, or `token create` before any serve, so the join link can carry its fingerprint).
 * A `memory:` server gets a new one each start, as it gets new everything else. `syncDir`:
 * tests watch the identity made durable.
 */
export async function dataDirIdentity(location: string, syncDir?: (dir: string) => Promise<void>): Promise<ServerIdentity> {
  if (location === MEMORY_LOCATION) return createIdentity();
  const files = identityFiles(location);
  const kept = await _readPair(files.cert, files.key);
  if (kept) return kept;
  const made = await createIdentity();
  const folders = await missingFolders(files.dir);
  await fs.mkdir(files.dir, { recursive: true, mode: 0o700 });
  // The key first and the certificate last, each renamed into place whole: a pair with its
  // certificate is complete, and a start that died half-way makes a new pair.
  await _writeWhole(files.key, made.key, 0o600);
  await _writeWhole(files.cert, made.cert, 0o644);
  // Durable before it is used: clients pin its fingerprint, and a pair lost to a power cut
  // would be replaced by one that every one of them refuses.
  await syncCreated(files.dir, folders, syncDir);
  return made;
}

/** `serve --tls-cert FILE --tls-key FILE`: a certificate made elsewhere (a CA's, say), checked to belong to its key. */
export async function fileIdentity(certFile: string, keyFile: string): Promise<ServerIdentity> {
  const read = async (file: string, what: string) => {
    try {
      return await fs.readFile(file, "utf8");
    } catch (e) {
      throw new DropsimError("tls", `Cannot read the TLS ${what} "${file}": ${(e as Error).message}`);
    }
  };
  return _checkedPair(await read(certFile, "certificate"), await read(keyFile, "key"), `"${certFile}" and "${keyFile}"`);
}

/**
 * A new P-256 key and a self-signed certificate for it, built with pkijs over WebCrypto: no
 * openssl binary needed, the same code under Bun, Deno and a compiled binary. P-256 rather than
 * Ed25519: every TLS 1.3 client offers ECDSA P-256, not all offer Ed25519 signatures. It never
 * expires (9999-12-31, RFC 5280's "no expiry"): clients pin it, no CA vouches for it.
 */
export async function createIdentity(): Promise<ServerIdentity> {
  const [asn1js, pkijs] = await Promise.all([import("asn1js"), import("pkijs")]);
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  const keys = (await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: certificateSerial(crypto.getRandomValues(new Uint8Array(16))) });
  const name = new pkijs.AttributeTypeAndValue({ type: "2.5.4.3", value: new asn1js.Utf8String({ value: "dropsim server" }) });
  cert.subject.typesAndValues.push(name);
  cert.issuer.typesAndValues.push(name);
  // An hour back: a client whose clock is a little behind still sees it valid, should it look.
  cert.notBefore.value = new Date(Date.now() - 3_600_000);
  cert.notAfter = new pkijs.Time({ type: pkijs.TimeType.GeneralizedTime, value: new Date("9999-12-31T23:59:59Z") });
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
  await cert.sign(keys.privateKey, "SHA-256");
  const der = new Uint8Array(cert.toSchema().toBER(false));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  // Parsed as TLS will parse it, so a certificate it would refuse stops us here, not a connection later.
  return _checkedPair(_pem("CERTIFICATE", der), _pem("PRIVATE KEY", pkcs8), "the certificate just made");
}

/**
 * A certificate's serial number from random bytes, as DER wants it: a positive INTEGER in its
 * shortest form. The first byte is kept in 0x40–0x7F: below 0x80 so it reads as positive, never
 * 0x00, which DER forbids before a byte below 0x80 — BoringSSL refuses such a certificate at the
 * handshake (INVALID_INTEGER), and a random serial made that one time in 256 (a CI run lost a
 * server to it).
 */
export function certificateSerial(random: Uint8Array): Uint8Array {
  const serial = random.slice();
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  return serial;
}

async function _readPair(certFile: string, keyFile: string): Promise<ServerIdentity | undefined> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([fs.readFile(certFile, "utf8"), fs.readFile(keyFile, "utf8")]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new DropsimError("tls", `Cannot read the server's identity in ${path.dirname(certFile)}: ${(e as Error).message}`);
  }
  return _checkedPair(cert, key, `"${certFile}" and "${keyFile}"`);
}

/** The fingerprint is the first certificate's: the server's own, before any chain. */
function _checkedPair(cert: string, key: string, where: string): ServerIdentity {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error("the key is not the certificate's");
  } catch (e) {
    throw new DropsimError("tls", `Cannot use ${where} as the server's TLS identity: ${(e as Error).message}`);
  }
  return { cert, key, fingerprint: certificateFingerprint(new Uint8Array(x509.raw)) };
}

async function _writeWhole(file: string, text: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await fs.open(temp, "w", mode);
  try {
    await handle.writeFile(text);
    // Before the rename: a rename can reach the disk before the bytes it names.
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
}

function _pem(label: string, der: Uint8Array): string {
  const lines = Buffer.from(der).toString("base64").match(/.{1,64}/g)!;
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

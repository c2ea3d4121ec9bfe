#!/usr/bin/env bun
/**
 * Builds the standalone dropsim executables with `bun build --compile` into dist/, one per
 * target, and writes dist/SHA256SUMS for the ones built in this run. Prints each size and the
 * `--version` wall time of the binary this machine can run (which must name the git commit:
 * passed in as the DROPSIM_COMMIT define that src/cli/version.ts reads).
 *
 *   bun scripts/build-binaries.ts                          every target
 *   bun scripts/build-binaries.ts --build-only linux-x64   one (or a comma-separated list)
 *   options: --outdir DIR (default dist), --entry FILE (default src/main.ts; tests build probes)
 *
 * Why the watcher needs care: @parcel/watcher's index.js picks its native addon with a
 * computed `require(\`@parcel/watcher-${platform}-${arch}\`)`, which the bundler cannot follow,
 * so a naive binary dies with "Cannot require module ./build/Release/watcher.node" on its
 * first watch. For each target we therefore generate a small module that `require`s that
 * target's prebuilt `watcher.node` by a literal path (so the compiler embeds it) and wraps it
 * with @parcel/watcher's own wrapper.js (path resolution, ignore globs → regexes), and a
 * bundler plugin resolves `@parcel/watcher` to it. Sources run by `bun` or `deno` are
 * untouched: they still load the package itself.
 *
 * The addon of the host platform comes from node_modules (so building linux-x64 on linux-x64
 * needs no network); the others are fetched with `npm pack` (same version as the installed
 * @parcel/watcher) into node_modules/.cache/dropsim-watchers, once. darwin binaries also get
 * their code signature checked, and repaired if bun left it stale (see ensureAdhocSignature).
 */
import type { BunPlugin } from "bun";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";

const ROOT = path.resolve(import.meta.dir, "..");
const CACHE = path.join(ROOT, "node_modules", ".cache", "dropsim-watchers");
const WATCHER_DIR = path.join(ROOT, "node_modules", "@parcel", "watcher");

export interface Target {
  /** Our name for it, used by --build-only and in the file name. */
  name: string;
  bun: Bun.Build.CompileTarget;
  /** The npm package holding this target's prebuilt watcher.node. */
  watcherPackage: string;
  file: string;
  /** How the addon file starts: a cheap check that we embed the right kind of library. */
  magic: (bytes: Uint8Array) => boolean;
  platform: NodeJS.Platform;
  arch: string;
}

const elf = (b: Uint8Array) => b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
const machO64 = (b: Uint8Array) => b[0] === 0xcf && b[1] === 0xfa && b[2] === 0xed && b[3] === 0xfe;
const pe = (b: Uint8Array) => b[0] === 0x4d && b[1] === 0x5a;

export const TARGETS: readonly Target[] = [
  { name: "linux-x64", bun: "bun-linux-x64", watcherPackage: "@parcel/watcher-linux-x64-glibc", file: "dropsim-linux-x64", magic: elf, platform: "linux", arch: "x64" },
  { name: "linux-arm64", bun: "bun-linux-arm64", watcherPackage: "@parcel/watcher-linux-arm64-glibc", file: "dropsim-linux-arm64", magic: elf, platform: "linux", arch: "arm64" },
  { name: "darwin-x64", bun: "bun-darwin-x64", watcherPackage: "@parcel/watcher-darwin-x64", file: "dropsim-darwin-x64", magic: machO64, platform: "darwin", arch: "x64" },
  { name: "darwin-arm64", bun: "bun-darwin-arm64", watcherPackage: "@parcel/watcher-darwin-arm64", file: "dropsim-darwin-arm64", magic: machO64, platform: "darwin", arch: "arm64" },
  { name: "windows-x64", bun: "bun-windows-x64", watcherPackage: "@parcel/watcher-win32-x64", file: "dropsim-windows-x64.exe", magic: pe, platform: "win32", arch: "x64" },
];

/** The target this machine can run, if it is one we build. */
export function hostTarget(): Target | undefined {
  return TARGETS.find((t) => t.platform === process.platform && t.arch === process.arch);
}

export class BuildError extends Error {
  override readonly name = "BuildError";
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fs.readFile(file, "utf8")) as T;
}

function run(cmd: string[], cwd = ROOT): { ok: boolean; stdout: string; stderr: string } {
  const proc = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  return { ok: proc.exitCode === 0, stdout: proc.stdout.toString().trim(), stderr: proc.stderr.toString().trim() };
}

/** The commit the sources come from, "-dirty" when tracked files differ from it. DROPSIM_COMMIT overrides. */
export function gitCommit(): string {
  if (process.env.DROPSIM_COMMIT) return process.env.DROPSIM_COMMIT;
  const head = run(["git", "rev-parse", "--short=12", "HEAD"]);
  if (!head.ok) return "unknown";
  const dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]);
  return dirty.ok && dirty.stdout !== "" ? `${head.stdout}-dirty` : head.stdout;
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/** Downloads `pkg@version` with `npm pack` and returns the bytes of its watcher.node. */
async function fetchAddon(pkg: string, version: string): Promise<Uint8Array> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "dropsim-pack-"));
  try {
    const packed = run(["npm", "pack", `${pkg}@${version}`, "--json", "--pack-destination", tmp], tmp);
    if (!packed.ok) throw new BuildError(`Cannot fetch "${pkg}@${version}" with npm pack: ${packed.stderr || packed.stdout}`);
    const [info] = JSON.parse(packed.stdout) as { filename: string }[];
    const archive = new Bun.Archive(await Bun.file(path.join(tmp, info!.filename)).bytes());
    const addon = (await archive.files()).get("package/watcher.node");
    if (!addon) throw new BuildError(`Cannot find watcher.node in "${pkg}@${version}": the package layout changed`);
    return addon.bytes();
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Puts the target's watcher.node and the module wrapping it in the cache; returns the module.
 * The module has @parcel/watcher's exports, over an addon required by a literal path.
 */
export async function prepareWatcher(target: Target, version: string): Promise<{ shimFile: string; addonFile: string }> {
  const dir = path.join(CACHE, `${target.watcherPackage.replace("@parcel/", "")}-${version}`);
  const addonFile = path.join(dir, "watcher.node");
  const shimFile = path.join(dir, "index.cjs");
  if (!(await exists(addonFile))) {
    const installed = path.join(ROOT, "node_modules", target.watcherPackage);
    const installedVersion = await readJson<{ version: string }>(path.join(installed, "package.json")).then(
      (p) => p.version,
      () => undefined,
    );
    const bytes =
      installedVersion === version
        ? await Bun.file(path.join(installed, "watcher.node")).bytes()
        : (console.log(`  fetching ${target.watcherPackage}@${version} (npm pack)`), await fetchAddon(target.watcherPackage, version));
    if (!target.magic(bytes)) throw new BuildError(`Cannot use the watcher addon of "${target.watcherPackage}": it is not a ${target.platform} library`);
    await fs.mkdir(dir, { recursive: true });
    await Bun.write(`${addonFile}.tmp`, bytes);
    await fs.rename(`${addonFile}.tmp`, addonFile);
  }
  const wrapper = path.join(WATCHER_DIR, "wrapper.js");
  await Bun.write(
    shimFile,
    [
      `// Generated by scripts/build-binaries.ts for ${target.bun}: @parcel/watcher's API over the addon of`,
      `// ${target.watcherPackage}@${version}, required by a literal path so that bun build --compile embeds it.`,
      `const { createWrapper } = require(${JSON.stringify(wrapper)});`,
      `const wrapper = createWrapper(require("./watcher.node"));`,
      "exports.writeSnapshot = wrapper.writeSnapshot;",
      "exports.getEventsSince = wrapper.getEventsSince;",
      "exports.subscribe = wrapper.subscribe;",
      "exports.unsubscribe = wrapper.unsubscribe;",
      "",
    ].join("\n"),
  );
  return { shimFile, addonFile };
}

/** Resolves every `import("@parcel/watcher")` of the bundle to the target's generated module. */
export function watcherPlugin(shimFile: string): BunPlugin {
  return {
    name: "dropsim-embedded-watcher",
    setup(build) {
      build.onResolve({ filter: /^@parcel\/watcher$/ }, () => ({ path: shimFile }));
    },
  };
}

/** The version of @parcel/watcher installed: the prebuilt addons fetched must match it. */
export async function installedWatcherVersion(): Promise<string> {
  return (await readJson<{ version: string }>(path.join(WATCHER_DIR, "package.json"))).version;
}

export interface BuildOptions {
  entry: string;
  outdir: string;
  commit: string;
  watcherVersion: string;
}

export async function buildTarget(target: Target, opts: BuildOptions): Promise<string> {
  const { shimFile, addonFile } = await prepareWatcher(target, opts.watcherVersion);
  const outfile = path.join(opts.outdir, target.file);
  const result = await Bun.build({
    entrypoints: [opts.entry],
    compile: { target: target.bun, outfile, autoloadDotenv: false, autoloadBunfig: false },
    define: { DROPSIM_COMMIT: JSON.stringify(opts.commit) },
    plugins: [watcherPlugin(shimFile)],
    minify: { whitespace: true, syntax: true },
    // The source map is embedded in the executable (stack traces name src/ files); the
    // .map written beside it is a by-product.
    sourcemap: "linked",
    throw: false,
  });
  if (!result.success) {
    throw new BuildError(`Cannot build ${target.name}:\n${result.logs.map((l) => `  ${l.message}`).join("\n")}`);
  }
  const stem = outfile.replace(/\.exe$/, "");
  await Promise.all([fs.rm(`${outfile}.map`, { force: true }), fs.rm(`${stem}.map`, { force: true })]);
  await checkEmbedded(outfile, addonFile);
  if (target.platform === "darwin" && (await ensureAdhocSignature(outfile)) === "re-signed") {
    console.log(`  ${target.file}: bun left a stale code signature; replaced it with an ad-hoc one`);
  }
  return outfile;
}

/** Cross-built binaries cannot be run here: at least make sure the addon's bytes are inside. */
async function checkEmbedded(binary: string, addonFile: string): Promise<void> {
  const addon = Buffer.from(await Bun.file(addonFile).bytes());
  const middle = Math.floor(addon.length / 2);
  const probe = addon.subarray(middle, middle + 4096);
  const exe = Buffer.from(await Bun.file(binary).bytes());
  if (exe.indexOf(probe) < 0) throw new BuildError(`Cannot find the watcher addon inside "${binary}": the bundler did not embed it`);
}

/**
 * macOS kills an arm64 program whose code signature does not match its pages, and a signed
 * x64 one as soon as it touches a page that does not match. Bun re-signs what it compiles
 * ad hoc, but (1.4.5) not when cross-compiling darwin-x64: that binary keeps the signature
 * of the stock runtime, which no longer covers the appended program. So each darwin binary's
 * page hashes are checked here, and a stale signature is replaced in place by the same kind
 * of ad-hoc signature Bun writes for darwin-arm64 (code directory only, SHA-256, 4 KiB pages).
 */
export async function ensureAdhocSignature(file: string): Promise<"valid" | "re-signed"> {
  const bytes = Buffer.from(await Bun.file(file).bytes());
  const macho = parseMachO(bytes, file);
  if (signatureProblem(bytes, macho) === undefined) return "valid";
  writeAdhocSignature(bytes, macho);
  const problem = signatureProblem(bytes, macho);
  if (problem) throw new BuildError(`Cannot sign "${file}": ${problem}`);
  await Bun.write(file, bytes);
  return "re-signed";
}

interface MachO {
  /** Where the signature blob starts (LC_CODE_SIGNATURE dataoff): everything before it is signed. */
  sigOffset: number;
  sigSize: number;
  textSize: number;
}

function parseMachO(b: Buffer, file: string): MachO {
  if (b.readUInt32LE(0) !== 0xfeedfacf) throw new BuildError(`Cannot check the signature of "${file}": not a thin 64-bit Mach-O file`);
  let sig: { sigOffset: number; sigSize: number } | undefined;
  let textSize = 0;
  for (let i = 0, off = 32; i < b.readUInt32LE(16); i++, off += b.readUInt32LE(off + 4)) {
    const cmd = b.readUInt32LE(off);
    if (cmd === 0x1d) sig = { sigOffset: b.readUInt32LE(off + 8), sigSize: b.readUInt32LE(off + 12) };
    if (cmd === 0x19 && b.toString("latin1", off + 8, off + 24).replace(/\0+$/, "") === "__TEXT") textSize = Number(b.readBigUInt64LE(off + 48));
  }
  if (!sig) throw new BuildError(`Cannot check the signature of "${file}": it has no LC_CODE_SIGNATURE`);
  return { ...sig, textSize };
}

const PAGE = 4096;

function pageHash(b: Buffer, page: number, limit: number): Buffer {
  return createHash("sha256")
    .update(b.subarray(page * PAGE, Math.min((page + 1) * PAGE, limit)))
    .digest();
}

/** Why the code directory does not sign this file, or undefined when it does. */
function signatureProblem(b: Buffer, m: MachO): string | undefined {
  if (b.readUInt32BE(m.sigOffset) !== 0xfade0cc0) return "no signature superblob";
  const cd = m.sigOffset + b.readUInt32BE(m.sigOffset + 16);
  if (b.readUInt32BE(m.sigOffset + 12) !== 0 || b.readUInt32BE(cd) !== 0xfade0c02) return "no code directory in slot 0";
  const hashOffset = b.readUInt32BE(cd + 16);
  const pages = b.readUInt32BE(cd + 28);
  const codeLimit = b.readUInt32BE(cd + 32);
  if (codeLimit !== m.sigOffset) return `the signature covers ${codeLimit} bytes, the code is ${m.sigOffset}`;
  if (b[cd + 36] !== 32 || b[cd + 37] !== 2 || b[cd + 39] !== 12) return "not SHA-256 over 4 KiB pages";
  for (let p = 0; p < pages; p++) {
    const at = cd + hashOffset + p * 32;
    if (!pageHash(b, p, codeLimit).equals(b.subarray(at, at + 32))) return `page ${p} of ${pages} does not match its hash`;
  }
  return undefined;
}

function writeAdhocSignature(b: Buffer, m: MachO): void {
  const ident = Buffer.from("a.out\0");
  const pages = Math.ceil(m.sigOffset / PAGE);
  const header = 88;
  const cdLength = header + ident.length + pages * 32;
  const total = 20 + cdLength;
  if (total > m.sigSize) throw new BuildError(`Cannot sign: the signature needs ${total} bytes, the file has room for ${m.sigSize}`);
  const sig = Buffer.alloc(m.sigSize);
  sig.writeUInt32BE(0xfade0cc0, 0); // superblob: one blob, the code directory
  sig.writeUInt32BE(total, 4);
  sig.writeUInt32BE(1, 8);
  sig.writeUInt32BE(0, 12);
  sig.writeUInt32BE(20, 16);
  const cd = sig.subarray(20);
  cd.writeUInt32BE(0xfade0c02, 0);
  cd.writeUInt32BE(cdLength, 4);
  cd.writeUInt32BE(0x20400, 8); // version with exec segment fields
  cd.writeUInt32BE(0x20002, 12); // ad hoc, linker-signed
  cd.writeUInt32BE(header + ident.length, 16); // hashOffset
  cd.writeUInt32BE(header, 20); // identOffset
  cd.writeUInt32BE(0, 24); // special slots
  cd.writeUInt32BE(pages, 28);
  cd.writeUInt32BE(m.sigOffset, 32); // codeLimit
  cd.writeUInt8(32, 36); // hash size
  cd.writeUInt8(2, 37); // SHA-256
  cd.writeUInt8(12, 39); // 2^12-byte pages
  cd.writeBigUInt64BE(BigInt(m.textSize), 72); // execSegLimit (execSegBase 0)
  cd.writeBigUInt64BE(1n, 80); // CS_EXECSEG_MAIN_BINARY
  ident.copy(cd, header);
  for (let p = 0; p < pages; p++) pageHash(b, p, m.sigOffset).copy(cd, header + ident.length + p * 32);
  sig.copy(b, m.sigOffset);
}

async function sha256(file: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(file).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/** Runs `binary --version` a few times: the first run (cold) and the median of the rest. */
async function timeVersion(binary: string, runs = 5): Promise<{ output: string; firstMs: number; medianMs: number }> {
  const times: number[] = [];
  let output = "";
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const proc = Bun.spawnSync([binary, "--version"], { cwd: os.tmpdir(), stdout: "pipe", stderr: "pipe" });
    times.push(performance.now() - t0);
    if (proc.exitCode !== 0) throw new BuildError(`"${binary} --version" exited with code ${proc.exitCode}: ${proc.stderr.toString()}`);
    output = proc.stdout.toString().trim();
  }
  const rest = times.slice(1).sort((a, b) => a - b);
  return { output, firstMs: times[0]!, medianMs: rest[Math.floor(rest.length / 2)] ?? times[0]! };
}

function pickTargets(only: string | undefined): Target[] {
  if (!only) return [...TARGETS];
  return only.split(",").map((name) => {
    const target = TARGETS.find((t) => t.name === name.trim());
    if (!target) throw new BuildError(`Unknown target "${name}": expected one of ${TARGETS.map((t) => t.name).join(", ")}`);
    return target;
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "build-only": { type: "string" },
      outdir: { type: "string", default: path.join(ROOT, "dist") },
      entry: { type: "string", default: path.join(ROOT, "src", "main.ts") },
    },
  });
  const targets = pickTargets(values["build-only"]);
  const outdir = path.resolve(values.outdir);
  const pkg = await readJson<{ version: string }>(path.join(ROOT, "package.json"));
  const watcherVersion = await installedWatcherVersion();
  const opts: BuildOptions = { entry: path.resolve(values.entry), outdir, commit: gitCommit(), watcherVersion };
  await fs.mkdir(outdir, { recursive: true });
  console.log(`dropsim ${pkg.version} (${opts.commit}), bun ${Bun.version}, @parcel/watcher ${watcherVersion} → ${outdir}`);

  const built: { target: Target; file: string; bytes: number; hash: string; ms: number }[] = [];
  for (const target of targets) {
    const t0 = performance.now();
    const file = await buildTarget(target, opts);
    const ms = performance.now() - t0;
    built.push({ target, file, bytes: (await fs.stat(file)).size, hash: await sha256(file), ms });
    console.log(`  ${target.file.padEnd(26)} ${(built.at(-1)!.bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  built in ${(ms / 1000).toFixed(1)} s`);
  }

  const sums = built.map((b) => `${b.hash}  ${b.target.file}\n`).join("");
  await Bun.write(path.join(outdir, "SHA256SUMS"), sums);
  console.log(`  SHA256SUMS (${built.length} file${built.length === 1 ? "" : "s"})`);

  const host = built.find((b) => b.target === hostTarget());
  if (host && opts.entry === path.join(ROOT, "src", "main.ts")) {
    const { output, firstMs, medianMs } = await timeVersion(host.file);
    const expected = `${pkg.version} (${opts.commit})`;
    if (!output.includes(expected)) throw new BuildError(`"${host.target.file} --version" printed "${output}", expected "${expected}"`);
    console.log(`  ${host.target.file} --version → "${output}": ${medianMs.toFixed(0)} ms (median of 4 warm runs; first run ${firstMs.toFixed(0)} ms)`);
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(e instanceof BuildError ? `build-binaries: ${e.message}` : e);
    process.exit(1);
  }
}

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/**
 * Layering rules from STYLE.md, checked on the source text: core/ and protocol/ are pure and
 * runtime-neutral; only runtime/ may touch a runtime's SQLite, and only there statically.
 */
const ROOT = join(import.meta.dir, "..");
const SRC = join(ROOT, "src");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(d.name)) out.push(p);
  }
  return out;
}

/** Source without comments, so that a comment mentioning `bun:sqlite` is not a violation. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

const code = (file: string) => stripComments(readFileSync(file, "utf8"));

/** Every module specifier a file imports or re-exports statically, and every literal dynamic import. */
function staticImports(src: string): string[] {
  const specs: string[] = [];
  for (const m of src.matchAll(/(?:^|[;\s])(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']/g)) specs.push(m[1]!);
  for (const m of src.matchAll(/(?:^|[;\s])import\s*["']([^"']+)["']/g)) specs.push(m[1]!);
  for (const m of src.matchAll(/\brequire\s*\(\s*["']([^"']+)["']\s*\)/g)) specs.push(m[1]!);
  return specs;
}

function dynamicImports(src: string): string[] {
  return [...src.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
}

const rel = (f: string) => relative(ROOT, f);
const all = sourceFiles(SRC);
const pure = all.filter((f) => /^src\/(core|protocol)\//.test(rel(f)));
const FORBIDDEN_IN_PURE = new Set(["node:fs", "node:fs/promises", "node:net", "bun", "bun:sqlite", "fs", "fs/promises", "net"]);

describe("architecture", () => {
  test("the source tree has core and protocol modules to check", () => {
    expect(pure.some((f) => rel(f).startsWith("src/core/"))).toBe(true);
    expect(pure.some((f) => rel(f).startsWith("src/protocol/"))).toBe(true);
  });

  test("the import scanner sees every form of import", () => {
    const src = `import a from "x1";\nimport { b } from 'x2';\nimport "x3";\nexport * from "x4";\nimport type { T } from "x5";\nconst c = require("x6");\nconst d = await import("x7");`;
    expect(staticImports(src).sort()).toEqual(["x1", "x2", "x3", "x4", "x5", "x6"]);
    expect(dynamicImports(src)).toEqual(["x7"]);
    expect(staticImports(stripComments('// import "bun:sqlite"\n/* import "bun" */\nconst s = "http://x";'))).toEqual([]);
  });

  test.each(pure.map(rel))("%s imports no file system, network or runtime module", (file) => {
    const src = code(join(ROOT, file));
    const bad = [...staticImports(src), ...dynamicImports(src)].filter((s) => FORBIDDEN_IN_PURE.has(s) || s.startsWith("bun:") || s.startsWith("deno:"));
    expect(bad).toEqual([]);
  });

  test.each(pure.map(rel))("%s references neither Bun. nor Deno.", (file) => {
    const src = code(join(ROOT, file));
    expect(src).not.toMatch(/\bBun\s*\.|\bDeno\s*\./);
    expect(src).not.toMatch(/\bglobalThis\s*\.\s*(Bun|Deno)\b/);
  });

  test.each(pure.map(rel))("%s imports nothing from the layers above it", (file) => {
    const src = code(join(ROOT, file));
    const layer = file.split("/")[1]!;
    // core imports only core; protocol may use core and the runtime *types* it is handed.
    const allowed = layer === "core" ? /^\.\/|^[^.]/ : /^\.\/|^\.\.\/core\/|^\.\.\/runtime\/types\.ts$|^[^.]/;
    expect(staticImports(src).filter((s) => !allowed.test(s))).toEqual([]);
  });

  // An adapter for one runtime (`*-bun.ts`: bun:ffi, bun:sqlite; `*-deno.ts`: Deno.dlopen) is
  // reached only by a dynamic import after detection, so the other runtime never loads it.
  const isAdapter = (file: string) => /^src\/runtime\/[^/]+-(bun|deno)\.ts$/.test(file);

  test.each(all.map(rel).filter((f) => !/^src\/runtime\/[^/]+-bun\.ts$/.test(f)))("%s imports Bun's own modules only if it is a Bun adapter", (file) => {
    const src = code(join(ROOT, file));
    expect(staticImports(src).filter((s) => s === "bun" || s.startsWith("bun:"))).toEqual([]);
  });

  test.each(all.map(rel))("%s imports no runtime adapter statically", (file) => {
    const src = code(join(ROOT, file));
    expect(staticImports(src).filter((s) => /-(bun|deno)\.ts$/.test(s))).toEqual([]);
  });

  test("the adapters the rules above speak of exist", () => {
    expect(all.map(rel).filter(isAdapter).sort()).toEqual(expect.arrayContaining(["src/runtime/xattr-bun.ts", "src/runtime/xattr-deno.ts", "src/runtime/sqlite-bun.ts"]));
  });

  test.each(all.filter((f) => !rel(f).startsWith("src/runtime/")).map(rel))("%s does not import a SQLite driver statically", (file) => {
    const src = code(join(ROOT, file));
    expect(staticImports(src).filter((s) => s === "bun:sqlite" || s === "node:sqlite")).toEqual([]);
  });
});

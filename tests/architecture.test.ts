import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

/**
 * The layering of STYLE.md and issue 10 (item 6), checked on the source text of src/:
 * which folder may import which, that runtime adapters are reached only through
 * runtime/index.ts, that only runtime/ looks at the runtime it runs on, and that the static
 * import graph has no cycles. Paths below are relative to src/.
 */

/**
 * Which folder may import which. A folder may always import itself; an entry is a folder
 * ("core") or one file ("runtime/types.ts"). Dynamic imports count as imports here. The guard
 * rails further down keep this table from ever allowing the edges issue 10 forbids, so a
 * violation is fixed in the code, not by widening the table.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  // The citty root names the subcommands and loads each one lazily.
  "main.ts": ["cli"],
  cli: [
    // The commands wire everything together: detect the runtime (runtime/index.ts), open the
    // stores, start a server or a client, print. Adapters still only through index (see below).
    "client",
    "server",
    "protocol",
    "store",
    "fsutil",
    "core",
    "runtime",
  ],
  client: [
    "core", // entries, the planner, wire paths, errors, the Log type
    "protocol", // it talks to the server through peer.ts and messages.ts
    "fsutil", // scanning, hashing and writing the synced folder
    // local-index.ts keeps state.db: the same entry-row codec, numbered migrations and
    // transaction handle as meta.db, so the client shares store/'s SQL plumbing.
    "store",
    "runtime/types.ts", // the runtime is injected: the client sees only its contract
    "runtime/read-into.ts", // uploads read runs of blocks straight into their frames
  ],
  // No fsutil: the server reaches its disk only through store/ (the data dir's lock is taken by
  // cli/), which is what lets a networked MetaStore + BlockStore replace SQLite and packs.
  server: ["core", "protocol", "store", "runtime/types.ts"],
  // Stores write their files with writeFully from runtime/, not through fsutil/ (issue 10, item 6).
  // Packs are read with readInto: runs of blocks lying end to end in one readv.
  store: ["core", "runtime/types.ts", "runtime/write-fully.ts", "runtime/read-into.ts", "runtime/sync-dir.ts"],
  // The folder on disk: pure rules from core, the injected contract, and writeFully for TempFile.
  fsutil: ["core", "runtime/types.ts", "runtime/write-fully.ts", "runtime/read-into.ts"],
  // Frames and messages know nothing of storage or sync; a Transport is handed to them.
  protocol: ["core", "runtime/types.ts"],
  // Adapters throw DropsimError (core/errors.ts); core is pure, so this edge cannot loop back.
  runtime: ["core"],
  core: [],
};

/** Files outside src/ that src/ may import: the version line reads package.json. */
const OUTSIDE_SRC_ALLOWED = new Set(["package.json"]);

const ROOT = join(import.meta.dir, "..");
const SRC = join(ROOT, "src");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(d.name)) out.push(p);
  }
  return out.sort();
}

const REGEX_AFTER_WORD = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield", "await", "instanceof"]);

/**
 * The source with every comment turned into spaces and, with `blankStrings`, the inside of every
 * string, template and regular expression literal too (a template's `${}` stays code). Lengths
 * and newlines are kept, so an offset in one view is the same place in the other.
 */
function scrub(text: string, blankStrings: boolean): string {
  const out: string[] = [];
  const blank = (s: string) => s.replace(/[^\n]/g, " ");
  const lit = (s: string) => (blankStrings ? blank(s) : s);
  const templates: number[] = []; // brace depth at which each open `${` was entered
  let depth = 0;
  let i = 0;
  const n = text.length;

  const regexMayStart = () => {
    const before = out.join("").trimEnd();
    if (before === "") return true;
    const last = before[before.length - 1]!;
    if (/[\w$]/.test(last)) return REGEX_AFTER_WORD.has(/[\w$]+$/.exec(before)![0]);
    return !/[)\]"'`]/.test(last);
  };
  /** From just inside a template to its closing backtick or the next `${`. */
  const templateBody = () => {
    while (i < n) {
      const c = text[i]!;
      if (c === "\\") {
        out.push(lit(text.slice(i, i + 2)));
        i += 2;
      } else if (c === "`") {
        out.push("`");
        i++;
        return;
      } else if (c === "$" && text[i + 1] === "{") {
        out.push("${");
        i += 2;
        templates.push(depth);
        depth++;
        return;
      } else {
        out.push(lit(c));
        i++;
      }
    }
  };

  while (i < n) {
    const c = text[i]!;
    const d = text[i + 1];
    if (c === "/" && d === "/") {
      const end = text.indexOf("\n", i);
      const stop = end === -1 ? n : end;
      out.push(blank(text.slice(i, stop)));
      i = stop;
    } else if (c === "/" && d === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end === -1 ? n : end + 2;
      out.push(blank(text.slice(i, stop)));
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && text[j] !== c && text[j] !== "\n") j += text[j] === "\\" ? 2 : 1;
      out.push(c, lit(text.slice(i + 1, j)), text[j] === c ? c : "");
      i = text[j] === c ? j + 1 : j;
    } else if (c === "`") {
      out.push("`");
      i++;
      templateBody();
    } else if (c === "/" && regexMayStart()) {
      let j = i + 1;
      let inClass = false;
      while (j < n && text[j] !== "\n" && (inClass || text[j] !== "/")) {
        if (text[j] === "\\") j++;
        else if (text[j] === "[") inClass = true;
        else if (text[j] === "]") inClass = false;
        j++;
      }
      out.push("/", lit(text.slice(i + 1, j)));
      i = j;
      if (text[i] === "/") {
        out.push("/");
        i++;
      }
    } else if (c === "}" && templates.length > 0 && templates[templates.length - 1] === depth - 1) {
      templates.pop();
      depth--;
      out.push("}");
      i++;
      templateBody();
    } else {
      if (c === "{") depth++;
      else if (c === "}") depth--;
      out.push(c);
      i++;
    }
  }
  return out.join("");
}

interface ImportRef {
  spec: string;
  /** `static` is an import or re-export declaration (types included) or a require. */
  kind: "static" | "dynamic";
}

// Each pattern runs on the comment-free source; a hit counts only if its keyword is code, not
// the inside of a string (checked against the view with literals blanked).
const FROM_CLAUSE =
  /(?<![\w$.])(import|export)\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\{[^{}]*\}|\*(?:\s*as\s+[\w$]+)?)?\s*from\s*(["'])([^"'\n]*)\2/g;
const BARE_IMPORT = /(?<![\w$.])(import)\s*(["'])([^"'\n]*)\2/g;
const REQUIRE = /(?<![\w$.])(require)\s*\(\s*(["'])([^"'\n]*)\2\s*\)/g;
const DYNAMIC = /(?<![\w$.])(import)\s*\(\s*(["'`])([^"'`\n$]*)\2\s*[,)]/g;
const ANY_DYNAMIC = /(?<![\w$.])import\s*\(/g;

interface Source {
  /** Comments blanked, literals kept. */
  code: string;
  /** Comments and the insides of literals blanked. */
  bare: string;
}

const scan = (text: string): Source => ({ code: scrub(text, false), bare: scrub(text, true) });

function importsOf(src: Source): ImportRef[] {
  const refs: ImportRef[] = [];
  const collect = (re: RegExp, kind: ImportRef["kind"]) => {
    for (const m of src.code.matchAll(re)) {
      const at = m.index + m[0].indexOf(m[1]!);
      if (src.bare.startsWith(m[1]!, at)) refs.push({ spec: m[3]!, kind });
    }
  };
  collect(FROM_CLAUSE, "static");
  collect(BARE_IMPORT, "static");
  collect(REQUIRE, "static");
  collect(DYNAMIC, "dynamic");
  return refs;
}

/** Dynamic imports whose module is not a literal: no rule below could see where they lead. */
function opaqueDynamicImports(src: Source): number {
  const literal = new Set([...src.code.matchAll(DYNAMIC)].map((m) => m.index));
  return [...src.bare.matchAll(ANY_DYNAMIC)].filter((m) => !literal.has(m.index)).length;
}

/** The file a relative specifier names, or undefined if none exists; bare specifiers are packages. */
function resolveSpec(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".") && !spec.startsWith("/")) return undefined;
  const base = resolve(dirname(from), spec);
  return [base, `${base}.ts`, join(base, "index.ts")].find((p) => existsSync(p) && statSync(p).isFile());
}

/** `cli/sync.ts` for src/cli/sync.ts, with forward slashes on every platform. */
const fromSrc = (file: string) => relative(SRC, file).split(sep).join("/");
const insideSrc = (file: string) => !relative(SRC, file).startsWith("..");
/** The folder a file belongs to, or the file itself at the top of src/ (`main.ts`). */
const layerOf = (rel: string) => (rel.includes("/") ? rel.slice(0, rel.indexOf("/")) : rel);

function mayImport(fromRel: string, toRel: string): boolean {
  const from = layerOf(fromRel);
  if (layerOf(toRel) === from) return true;
  return (MAY_IMPORT[from] ?? []).some((t) => (t.endsWith(".ts") ? toRel === t : layerOf(toRel) === t));
}

/** A runtime's own implementation: `*-bun.ts`, `*-deno.ts` or `*-node.ts` in runtime/. */
const isAdapter = (rel: string) => /^runtime\/[^/]+-(bun|deno|node)\.ts$/.test(rel);

/**
 * Where the source looks at the `Bun` or `Deno` global (or `globalThis.Bun`, `"Deno" in
 * globalThis`), other than as a type. A name right after `:`, `<`, `|`, `&`, `as`, `extends`,
 * `satisfies`, `implements`, `keyof` or `type X =` is taken for a type; the one case this reads
 * wrong is the false branch of `c ? x : Bun.y`, whose true branch usually gives it away anyway.
 */
function runtimeGlobals(src: Source): { name: "Bun" | "Deno"; line: number }[] {
  const found: { name: "Bun" | "Deno"; at: number }[] = [];
  for (const m of src.bare.matchAll(/(?<![\w$.])(Bun|Deno)(?![\w$])/g)) {
    let before = src.bare.slice(0, m.index).trimEnd();
    if (/(^|[^\w$.])typeof$/.test(before)) before = before.slice(0, -"typeof".length).trimEnd();
    const asType = /(?:[:<|&]|(?<![\w$.])(?:as|extends|satisfies|implements|keyof)|(?<![\w$.])type\s+[\w$]+\s*(?:<[^<>]*>)?\s*=)$/.test(before);
    if (!asType) found.push({ name: m[1] as "Bun" | "Deno", at: m.index });
  }
  for (const m of src.bare.matchAll(/\bglobalThis\s*(?:\?\.|\.)\s*(Bun|Deno)\b/g)) found.push({ name: m[1] as "Bun" | "Deno", at: m.index });
  for (const m of src.code.matchAll(/(["'])(Bun|Deno)\1\s*in\s+globalThis\b|\bglobalThis\s*(?:\?\.)?\[\s*(["'`])(Bun|Deno)\3\s*\]/g)) {
    if (src.bare[m.index] === src.code[m.index]) found.push({ name: (m[2] ?? m[4]) as "Bun" | "Deno", at: m.index });
  }
  const lineAt = (at: number) => src.code.slice(0, at).split("\n").length;
  return found.sort((a, b) => a.at - b.at).map((f) => ({ name: f.name, line: lineAt(f.at) }));
}

/** Every cycle a depth-first walk meets, each as the files around it, starting from its smallest. */
function findCycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const seen = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") {
        const loop = stack.slice(stack.indexOf(next));
        const start = loop.indexOf([...loop].sort()[0]!);
        const cycle = [...loop.slice(start), ...loop.slice(0, start)];
        const key = cycle.join(" -> ");
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...cycle, cycle[0]!]);
        }
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

// ---------------------------------------------------------------------------------------------

const all = sourceFiles(SRC);
const rels = all.map(fromSrc);
const sources = new Map(all.map((f) => [fromSrc(f), scan(readFileSync(f, "utf8"))]));
const source = (rel: string) => sources.get(rel)!;

interface Edge extends ImportRef {
  /** The file it names, relative to src/ when inside it; undefined for a package. */
  to?: string;
  outside?: boolean;
}

const edges = new Map<string, Edge[]>(
  rels.map((rel) => [
    rel,
    importsOf(source(rel)).map((ref): Edge => {
      const file = resolveSpec(join(SRC, rel), ref.spec);
      if (file === undefined) return ref;
      return insideSrc(file) ? { ...ref, to: fromSrc(file) } : { ...ref, to: relative(ROOT, file).split(sep).join("/"), outside: true };
    }),
  ]),
);
const show = (e: Edge) => (e.to !== undefined && e.to !== e.spec ? `${e.spec} (${e.to})` : e.spec);

const pure = rels.filter((f) => /^(core|protocol)\//.test(f));
const FORBIDDEN_IN_PURE = new Set(["node:fs", "node:fs/promises", "node:net", "bun", "bun:sqlite", "fs", "fs/promises", "net"]);

describe("the import scanner", () => {
  const specs = (text: string) => importsOf(scan(text)).map((r) => `${r.kind}:${r.spec}`);

  test("sees every form of import and re-export", () => {
    const text = [
      `import a from "x1";`,
      `import { b } from 'x2';`,
      `import "x3";`,
      `export * from "x4";`,
      `import type { T } from "x5";`,
      `const c = require("x6");`,
      `const d = await import("x7");`,
      `import {\n  e,\n  type F,\n  g as h,\n} from "x8";`,
      `export type {\n  I,\n  J } from "x9";`,
      `export * as ns from "x10";`,
      `import k, * as l from "x11"`,
      `import m, { n } from "x12"`,
      `export { o as default } from "x13"`,
      `import type\n  P\n  from "x14";`,
      `export type * from "x15";`,
      "const q = import(`x16`);",
      `const r = import("x17", { with: { type: "json" } });`,
    ].join("\n");
    expect(specs(text).sort()).toEqual(
      [
        "static:x1",
        "static:x2",
        "static:x3",
        "static:x4",
        "static:x5",
        "static:x6",
        "dynamic:x7",
        "static:x8",
        "static:x9",
        "static:x10",
        "static:x11",
        "static:x12",
        "static:x13",
        "static:x14",
        "static:x15",
        "dynamic:x16",
        "dynamic:x17",
      ].sort(),
    );
  });

  test("ignores imports inside comments, strings, templates and regular expressions", () => {
    const text = [
      `// import "c1"`,
      `/* import { a } from "c2"; */`,
      `/**\n * import type { T } from "c3";\n */`,
      `const s = 'import x from "c4"';`,
      "const t = `import(\"c5\") ${x} export * from \"c6\"`;",
      `const u = /import "c7"/;`,
      `const url = "http://example.org/import";`,
      `obj.import("c8"); x.require("c9");`,
      `const meta = import.meta.dir;`,
    ].join("\n");
    expect(specs(text)).toEqual([]);
  });

  test("reads code after a template, a regular expression and a division", () => {
    const text = ["const a = `x${`y${1}`}z`;", `const b = /["'\\/]/g;`, `const c = 4 / 2 / 1;`, `import d from "after";`].join("\n");
    expect(specs(text)).toEqual(["static:after"]);
  });

  test("tells a literal dynamic import from one it cannot follow", () => {
    expect(opaqueDynamicImports(scan(`await import("./a.ts"); await import(name); // import(x)`))).toBe(1);
  });

  test("finds a look at the runtime, and not a type that names it", () => {
    const lines = (text: string) => runtimeGlobals(scan(text)).map((g) => `${g.name}@${g.line}`);
    expect(lines(`if (typeof Bun !== "undefined") {}\nconst x = globalThis.Deno;\nconst y = "Deno" in globalThis;\nBun.gc(true);`)).toEqual([
      "Bun@1",
      "Deno@2",
      "Deno@3",
      "Bun@4",
    ]);
    expect(lines(`let s: Bun.Socket;\ntype D = typeof Deno;\nconst f = (x: Array<Bun.Socket>) => x as Deno.FsFile;\n// Bun.gc()\nconst m = "use Bun.gc";`)).toEqual([]);
  });

  test("finds a cycle and names its files in order", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
    ]);
    expect(findCycles(g)).toEqual([["a", "b", "c", "a"]]);
    expect(findCycles(new Map([["a", ["b"]], ["b", []]]))).toEqual([]);
  });
});

describe("architecture", () => {
  test("the source tree has core and protocol modules to check", () => {
    expect(pure.some((f) => f.startsWith("core/"))).toBe(true);
    expect(pure.some((f) => f.startsWith("protocol/"))).toBe(true);
  });

  test("the layering table names every folder under src/, and only those", () => {
    expect(Object.keys(MAY_IMPORT).sort()).toEqual([...new Set(rels.map(layerOf))].sort());
    const targets = Object.values(MAY_IMPORT).flat();
    expect(targets.filter((t) => (t.endsWith(".ts") ? !rels.includes(t) : !rels.some((r) => layerOf(r) === t)))).toEqual([]);
  });

  // Guard rails: the edges issue 10 forbids, checked on the table itself.
  test("the table lets neither client nor server import the other", () => {
    const reaches = (from: string, to: string) => MAY_IMPORT[from]!.some((t) => layerOf(t) === to);
    expect(reaches("client", "server")).toBe(false);
    expect(reaches("server", "client")).toBe(false);
  });

  test("the table lets store import neither fsutil, client, server nor cli", () => {
    expect(MAY_IMPORT.store!.filter((t) => ["fsutil", "client", "server", "cli"].includes(layerOf(t)))).toEqual([]);
  });

  test("the table keeps core to itself and protocol to core and the runtime's types", () => {
    expect(MAY_IMPORT.core).toEqual([]);
    expect(MAY_IMPORT.protocol!.filter((t) => t !== "core" && t !== "runtime/types.ts")).toEqual([]);
  });

  test("the table lets only main.ts import cli, and nothing below cli reach runtime/index.ts", () => {
    expect(Object.entries(MAY_IMPORT).filter(([from, to]) => from !== "main.ts" && to.includes("cli"))).toEqual([]);
    const below = Object.entries(MAY_IMPORT).filter(([from]) => from !== "main.ts" && from !== "cli" && from !== "runtime");
    expect(below.filter(([, to]) => to.includes("runtime") || to.includes("runtime/index.ts")).map(([from]) => from)).toEqual([]);
  });

  test.each(rels)("%s imports only what its layer may", (file) => {
    const bad = edges.get(file)!.filter((e) => e.to !== undefined && !e.outside && !mayImport(file, e.to));
    expect(bad.map(show)).toEqual([]);
  });

  test.each(rels)("%s imports only files that exist", (file) => {
    const dangling = edges.get(file)!.filter((e) => (e.spec.startsWith(".") || e.spec.startsWith("/")) && e.to === undefined);
    expect(dangling.map((e) => e.spec)).toEqual([]);
  });

  test.each(rels)("%s imports nothing outside src/ but package.json", (file) => {
    expect(edges.get(file)!.filter((e) => e.outside && !OUTSIDE_SRC_ALLOWED.has(e.to!)).map(show)).toEqual([]);
  });

  test.each(rels)("%s names every dynamically imported module literally", (file) => {
    expect(opaqueDynamicImports(source(file))).toBe(0);
  });

  test("client and server never import each other", () => {
    const across = rels.flatMap((file) =>
      edges
        .get(file)!
        .filter((e) => e.to !== undefined && [layerOf(file), layerOf(e.to)].sort().join() === "client,server")
        .map((e) => `${file}: ${show(e)}`),
    );
    expect(across).toEqual([]);
  });

  test("store imports neither fsutil, client, server nor cli", () => {
    const up = rels
      .filter((f) => layerOf(f) === "store")
      .flatMap((file) =>
        edges
          .get(file)!
          .filter((e) => e.to !== undefined && ["fsutil", "client", "server", "cli"].includes(layerOf(e.to)))
          .map((e) => `${file}: ${show(e)}`),
      );
    expect(up).toEqual([]);
  });

  test.each(pure)("%s imports no file system, network or runtime module", (file) => {
    const bad = edges.get(file)!.filter((e) => FORBIDDEN_IN_PURE.has(e.spec) || e.spec.startsWith("bun:") || e.spec.startsWith("deno:"));
    expect(bad.map(show)).toEqual([]);
  });

  // An adapter for one runtime (`*-bun.ts`: bun:ffi, bun:sqlite, Bun.listen; `*-deno.ts`:
  // Deno.dlopen; `*-node.ts`: node:sqlite) is reached only by runtime/index.ts, by a dynamic
  // import after detection, so another runtime never loads it.
  test("the adapters the rules below speak of exist", () => {
    expect(rels.filter(isAdapter)).toEqual(expect.arrayContaining(["runtime/xattr-bun.ts", "runtime/xattr-deno.ts", "runtime/sqlite-bun.ts", "runtime/sqlite-node.ts"]));
  });

  test.each(rels.filter((f) => f !== "runtime/index.ts"))("%s imports no runtime adapter, statically or dynamically", (file) => {
    expect(edges.get(file)!.filter((e) => e.to !== undefined && isAdapter(e.to)).map(show)).toEqual([]);
  });

  test("runtime/index.ts loads every adapter by a dynamic import", () => {
    expect(edges.get("runtime/index.ts")!.filter((e) => e.to !== undefined && isAdapter(e.to) && e.kind !== "dynamic").map(show)).toEqual([]);
  });

  test.each(rels.filter((f) => !/^runtime\/[^/]+-bun\.ts$/.test(f)))("%s imports Bun's own modules only if it is a Bun adapter", (file) => {
    expect(edges.get(file)!.filter((e) => e.spec === "bun" || e.spec.startsWith("bun:")).map(show)).toEqual([]);
  });

  test.each(rels.filter((f) => !f.startsWith("runtime/")))("%s does not import a SQLite driver", (file) => {
    expect(edges.get(file)!.filter((e) => e.spec === "bun:sqlite" || e.spec === "node:sqlite").map(show)).toEqual([]);
  });

  // Which runtime this is gets decided once, in runtime/index.ts; an adapter may use its own
  // runtime's global, since it is loaded only on that runtime.
  test.each(rels)("%s looks at Bun or Deno only if it is runtime/index.ts or that runtime's adapter", (file) => {
    const mayUse = (name: "Bun" | "Deno") => file === "runtime/index.ts" || new RegExp(`^runtime/[^/]+-${name.toLowerCase()}\\.ts$`).test(file);
    const bad = runtimeGlobals(source(file)).filter((g) => !mayUse(g.name));
    expect(bad.map((g) => `${g.name} at line ${g.line}`)).toEqual([]);
  });

  // Static imports only, `import type` included: a cycle of types still ties two modules into
  // one unit. A dynamic import runs after both modules have loaded, so it is left out.
  test("the static import graph of src/ has no cycles", () => {
    const graph = new Map(rels.map((f) => [f, [...new Set(edges.get(f)!.filter((e) => e.kind === "static" && e.to !== undefined && !e.outside).map((e) => e.to!))]]));
    expect(findCycles(graph).map((c) => c.join(" -> "))).toEqual([]);
  });
});

import pkg from "../../package.json" with { type: "json" };

/** Replaced at build time by scripts/build-binaries.ts with the commit the binary was built from. */
declare const DROPSIM_COMMIT: string | undefined;

const commit = typeof DROPSIM_COMMIT === "string" ? DROPSIM_COMMIT : "source";
export const VERSION_LINE = `${pkg.version} (${commit})`;

import pkg from "../../package.json" with { type: "json" };

/** The version reported by --version, /healthz and relay_info; package.json is bundled into the binary. */
export const VERSION: string = pkg.version;

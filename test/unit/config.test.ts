import { describe, expect, test } from "bun:test";
import { ConfigError, envName, flagName, fromEnv, fromFile, resolveConfig } from "../../src/node/config.ts";
import { withDefaultCommand } from "../../src/cli/argv.ts";

describe("configuration", () => {
  test("defaults match the documented contract", () => {
    const c = resolveConfig({});
    expect(c.port).toBe(7400);
    expect(c.host).toBe("0.0.0.0");
    expect(c.maxPeers).toBe(8);
    expect(c.maxPayload).toBe(65536);
    expect(c.maxSubscriptions).toBe(128);
    expect(c.seed).toEqual([]);
  });

  test("flags beat the environment, which beats the file", () => {
    const c = resolveConfig({ file: { port: 1, region: "eu" }, env: fromEnv({ RELAY_PORT: "2", RELAY_NAME: "n1" }), flags: { port: "3" } });
    expect(c.port).toBe(3);
    expect(c.name).toBe("n1");
    expect(c.region).toBe("eu");
  });

  test("RELAY_SEED lists several seeds", () => {
    expect(resolveConfig({ env: fromEnv({ RELAY_SEED: "a:1, b:2", RELAY_CLUSTER_KEY: "0123456789abcdef" }) }).seed).toEqual(["a:1", "b:2"]);
  });

  test("seeds without a cluster key are refused: a node joins the mesh only with the key", () => {
    expect(() => resolveConfig({ flags: { seed: ["a:1"] } })).toThrow(/--seed .* needs --cluster-key/);
  });

  test("names map to flags and variables", () => {
    expect(flagName("maxPayload")).toBe("--max-payload");
    expect(envName("maxPayload")).toBe("RELAY_MAX_PAYLOAD");
  });

  test.each([
    [{ flags: { port: "http" } }, /--port \(RELAY_PORT\) from flag/],
    [{ env: fromEnv({ RELAY_MAX_PAYLOAD: "abc" }) }, /--max-payload \(RELAY_MAX_PAYLOAD\) from environment/],
    [{ flags: { port: "70000" } }, /--port/],
    [{ flags: { seed: ["nohostport"] } }, /--seed.*host:port/],
    [{ flags: { logLevel: "loud" } }, /--log-level/],
    [{ flags: { clusterKey: "short" } }, /--cluster-key.*16/],
  ])("a bad value names the setting: %p", (sources, message) => {
    expect(() => resolveConfig(sources)).toThrow(message);
  });

  test("a config file with an unknown key or bad JSON is refused by name", () => {
    expect(() => fromFile('{"prot": 1}', "relay.json")).toThrow(/unknown setting prot/);
    expect(() => fromFile("{", "relay.json")).toThrow(ConfigError);
    expect(fromFile('{"port": 9000}', "relay.json")).toEqual({ port: 9000 });
  });
});

describe("command line", () => {
  test("serve is the default command", () => {
    expect(withDefaultCommand([])).toEqual(["serve"]);
    expect(withDefaultCommand(["--seed", "h:1"])).toEqual(["serve", "--seed", "h:1"]);
    expect(withDefaultCommand(["pub", "c", "m"])).toEqual(["pub", "c", "m"]);
    expect(withDefaultCommand(["--version"])).toEqual(["--version"]);
  });
});

/**
 * Protected channels with real `dist/relay` processes (ARCHITECTURE.md section 5): three nodes,
 * chan-a, chan-b and chan-c, and every byte between them recorded by userland TCP proxies.
 *
 * - 20 races: a client on chan-a and a client on chan-b open the same new protected name at the
 *   same moment with different passwords; exactly one is admitted and the other hears
 *   wrong_password, and every node (chan-c above all, which took no part) holds one record.
 * - Publishing: wrong or missing passwords are refused; the right one is admitted from a third
 *   node; a subscriber receives exactly the admitted messages.
 * - No password leaks: every password the file used is searched for in every node's logs (at
 *   --log-level debug), in every HTTP answer, and in every byte of every peer link.
 *
 * How the peer links are captured: each node gets a proxy before it starts, and advertises the
 * proxy's address (--advertise) instead of its own port; chan-b and chan-c join through chan-a's
 * proxy (--seed). A node dials others only at a seed or at an advertised URL, so every peer
 * connection, whichever side dials, passes a proxy; the first test checks that the links the mesh
 * reports are exactly the live connections the proxies carry. Client-to-server WebSocket frames are
 * masked, so the search looks at the unmasked payloads as well as the raw bytes.
 *
 * Every node binds port 0 and every proxy listens on port 0; every wait polls a condition under a
 * deadline; afterAll closes the clients, stops the nodes and the proxies, and killAll() reaps any
 * process a failure left behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ownerOf } from "../../src/mesh/rendezvous.ts";
import { decodePeerMessage } from "../../src/protocol/peer.ts";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "../helpers/build.ts";
import { getTopology, pollUntil, received, startMeshNode, stopAll, waitForMembership, type MeshNode, type TopologyView } from "../helpers/cluster.ts";
import { RawClient, type Frame } from "../helpers/node.ts";
import { killAll, withDeadline } from "../helpers/proc.ts";
import { findAll, parseWebSocketStream, TcpProxy, type ProxyConnection, type WsStream } from "../helpers/tcp-proxy.ts";

function figure(text: string): void {
  process.stderr.write(`[channels] ${text}\n`);
}

const ms = (x: number) => `${Math.round(x)} ms`;

function hex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}

/** One tag per run, so channel names are new to the mesh and payloads are recognisable. */
const RUN = hex(4);

/** The peer frame limit (src/node/peers.ts PEER_MAX_FRAME is 4 MiB); only bounds the decoder here. */
const PEER_MAX_FRAME = 4 * 1024 * 1024;

/**
 * A password as it could appear in a capture: itself, its bytes in hex, and its base64 at each of
 * the three alignments it could have inside a longer base64 text (the characters that also depend
 * on neighbouring bytes are left off).
 */
function encodings(password: string): string[] {
  const bytes = Buffer.from(password, "utf8");
  const out = [password, bytes.toString("hex")];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString("base64");
    out.push(b64.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6)));
  }
  return out;
}

/** A GET /channels row (src/node/server.ts channelList). */
interface ChannelRow {
  name: string;
  instance: string;
  creator: string;
  owner: string;
  protected: boolean;
  strict: boolean;
  subscribers: Record<string, number | null>;
}

beforeAll(ensureBuilt, BUILD_TIMEOUT_MS);
afterAll(killAll);

describe("protected channels on 3 nodes, every peer link through a recording proxy", () => {
  const NAMES = ["chan-a", "chan-b", "chan-c"] as const;
  const [NAME_A, NAME_B, NAME_C] = NAMES;
  /** Node name -> its proxy (the address it advertises). */
  const proxyOf = new Map<string, TcpProxy>();
  /** Proxies that are not on a peer link (the client-side positive control). */
  const otherProxies: TcpProxy[] = [];
  const nodes: MeshNode[] = [];
  const clients: RawClient[] = [];
  /** Every password this file sent to a node; none may appear in any capture. */
  const passwords: string[] = [];
  /** Every HTTP answer read from a node, status line and headers included. */
  const httpCaptures: { label: string; bytes: Uint8Array }[] = [];
  /** Race channel names and the node whose client won each, for the later checks. */
  const raceWinners = new Map<string, string>();
  let A!: MeshNode;
  let B!: MeshNode;
  let C!: MeshNode;

  /** A new distinctive password, remembered for the leak search. */
  function password(): string {
    const pw = `pw-${hex(16)}`;
    passwords.push(pw);
    return pw;
  }

  async function client(node: MeshNode | string): Promise<RawClient> {
    const c = await RawClient.open(typeof node === "string" ? node : node.url);
    clients.push(c);
    return c;
  }

  /** GET `path` from a node, keeping the whole answer for the leak search; null when it did not answer 2xx. */
  async function httpGet(node: MeshNode, path: string): Promise<{ status: number; text: string } | null> {
    try {
      const res = await fetch(`${node.httpUrl}${path}`, { signal: AbortSignal.timeout(2_000) });
      const body = new Uint8Array(await res.arrayBuffer());
      const headers: string[] = [];
      res.headers.forEach((value, key) => headers.push(`${key}: ${value}`));
      const head = `HTTP ${res.status} ${res.statusText}\n${headers.join("\n")}\n\n`;
      httpCaptures.push({ label: `GET ${path} from ${node.name}`, bytes: Buffer.concat([Buffer.from(head), body]) });
      return res.ok ? { status: res.status, text: new TextDecoder().decode(body) } : null;
    } catch {
      return null;
    }
  }

  async function channelsOf(node: MeshNode): Promise<ChannelRow[] | null> {
    const res = await httpGet(node, "/channels");
    return res ? (JSON.parse(res.text) as { channels: ChannelRow[] }).channels : null;
  }

  /** The answer to a request as "ack" or its error code. */
  const outcome = (f: Frame): string => (f.op === "ack" ? "ack" : f.op === "error" ? String(f.code) : `unexpected ${JSON.stringify(f)}`);

  beforeAll(async () => {
    // Proxies first: a node must know its proxy's port (to advertise it) before it starts.
    for (const name of NAMES) proxyOf.set(name, TcpProxy.start({ label: `proxy of ${name}` }));
    const start = async (name: string, seeds: string[]): Promise<MeshNode> => {
      const proxy = proxyOf.get(name)!;
      const node = await startMeshNode({ name, seeds, extraArgs: ["--advertise", `ws://127.0.0.1:${proxy.port}`, "--log-level", "debug"] });
      nodes.push(node);
      // A peer may already be waiting in the proxy (it learnt this node's URL from a neighbour).
      proxy.setTarget(node.port);
      return node;
    };
    A = await start(NAME_A, []);
    // chan-b and chan-c join through chan-a's proxy, never its port.
    B = await start(NAME_B, [proxyOf.get(NAME_A)!.address]);
    C = await start(NAME_C, [proxyOf.get(NAME_A)!.address]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => withDeadline(c.close(), 2_000, "client close").catch(() => undefined)));
    await stopAll(nodes);
    for (const proxy of [...proxyOf.values(), ...otherProxies]) proxy.stop();
  }, 20_000);

  /**
   * The live peer links the proxies carry, as sorted "x|y" pairs: a connection to a node's proxy
   * that upgraded at /peer and is still open, its dialer named by the HELLO it sent (the first
   * binary message), its acceptor the proxy's node.
   */
  function proxiedLinks(): string[] {
    const links = new Set<string>();
    for (const [acceptor, proxy] of proxyOf) {
      for (const conn of proxy.open()) {
        const dialer = helloName(conn);
        if (dialer) links.add([dialer, acceptor].sort().join("|"));
      }
    }
    return [...links].sort();
  }

  function helloName(conn: ProxyConnection): string | null {
    const up = parseWebSocketStream(conn.bytes("up"), "request");
    if (!up || !/^GET \/peer /.test(up.head)) return null;
    const first = up.messages.find((m) => m.opcode === 2);
    const frame = first ? decodePeerMessage(first.payload, PEER_MAX_FRAME)[0] : undefined;
    return frame?.ok && frame.frame.t === "hello" ? frame.frame.name : null;
  }

  const linksOf = (topo: TopologyView): string[] => topo.links.map((l) => [l.a, l.b].sort().join("|")).sort();

  test("the mesh forms, and every link it reports is a live connection through a proxy", async () => {
    const took = await waitForMembership(nodes, [...NAMES], 15_000);
    let last = "";
    // Links settle (a pair that dialled each other at once keeps one socket): wait until the three
    // nodes' /topology and the proxies' live /peer connections name the same links.
    await pollUntil(
      async () => {
        const topos = await Promise.all(nodes.map(getTopology));
        const proxied = proxiedLinks();
        last = `proxied [${proxied.join(" ")}]; topology ${topos.map((t, i) => `${nodes[i]!.name}: [${t ? linksOf(t).join(" ") : "no answer"}]`).join(", ")}`;
        return proxied.includes(`${NAME_A}|${NAME_B}`) && topos.every((t) => t !== null && linksOf(t).join(" ") === proxied.join(" "));
      },
      "every /topology to list exactly the live proxied /peer connections, chan-a|chan-b among them",
      15_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${last}`);
    });
    figure(`mesh of 3 up ${ms(took)} after the last node started; ${last}`);
  }, 35_000);

  test("20 simultaneous opens of one protected name with different passwords: exactly one is admitted each time", async () => {
    // Names spread over the three possible owners (the rendezvous hash the nodes use), so the
    // owner is sometimes the winner's node, sometimes the loser's, sometimes the bystander chan-c.
    const byOwner = new Map<string, string[]>(NAMES.map((n) => [n, []]));
    for (let i = 0; [...byOwner.values()].some((list) => list.length < 7); i++) {
      const name = `race-${RUN}-${i}`;
      const list = byOwner.get(ownerOf(name, [...NAMES].sort()))!;
      if (list.length < 7) list.push(name);
    }
    const names = [...byOwner.values()].flat().slice(0, 20);
    const onA = await client(A);
    const onB = await client(B);
    const results: { channel: string; a: string; b: string; ms: number; loserRetry: string }[] = [];
    for (const channel of names) {
      const pA = password();
      const pB = password();
      const t0 = performance.now();
      // Both frames leave in the same turn of the event loop (request() sends before it awaits).
      const [a, b] = await Promise.all([onA.request({ op: "sub", channel, password: pA }), onB.request({ op: "sub", channel, password: pB })]);
      const took = performance.now() - t0;
      let loserRetry = "-";
      if (outcome(a) === "ack" && outcome(b) === "wrong_password") {
        raceWinners.set(channel, NAME_A);
        // The name is bound to the winner's password: the loser's node now admits exactly that one.
        loserRetry = outcome(await onB.request({ op: "sub", channel, password: pA }));
      } else if (outcome(b) === "ack" && outcome(a) === "wrong_password") {
        raceWinners.set(channel, NAME_B);
        loserRetry = outcome(await onA.request({ op: "sub", channel, password: pB }));
      }
      results.push({ channel, a: outcome(a), b: outcome(b), ms: took, loserRetry });
    }
    const bad = results.filter((r) => !raceWinners.has(r.channel) || r.loserRetry !== "ack");
    expect(bad).toEqual([]);

    // chan-c took no part: it must hold one protected record per name, created for the winner's
    // node and bound by the name's owner; chan-a and chan-b must hold the very same instances.
    let views: (ChannelRow[] | null)[] = [];
    await pollUntil(
      async () => {
        views = await Promise.all([C, A, B].map(channelsOf));
        return views.every((v) => v !== null && names.every((n) => v.some((r) => r.name === n)));
      },
      "every node's /channels to list all 20 race names",
      10_000,
    );
    const [onC, ...others] = views as ChannelRow[][];
    const rows = names.map((name) => {
      const mine = onC!.filter((r) => r.name === name);
      return { name, count: mine.length, protected: mine[0]?.protected, creator: mine[0]?.creator, owner: mine[0]?.owner };
    });
    expect(rows).toEqual(names.map((name) => ({ name, count: 1, protected: true, creator: raceWinners.get(name), owner: ownerOf(name, [...NAMES].sort()) })));
    for (const view of others) {
      expect(names.map((n) => view.find((r) => r.name === n)?.instance)).toEqual(names.map((n) => onC!.find((r) => r.name === n)!.instance));
    }

    const wins = { [NAME_A]: 0, [NAME_B]: 0 } as Record<string, number>;
    for (const w of raceWinners.values()) wins[w]!++;
    const owners = NAMES.map((n) => `${n} ${rows.filter((r) => r.owner === n).length}`).join(", ");
    const times = results.map((r) => r.ms).sort((x, y) => x - y);
    figure(`20 races: won by ${NAME_A} ${wins[NAME_A]}, ${NAME_B} ${wins[NAME_B]}; owners ${owners}; both answers in ${ms(times[0]!)}..${ms(times[times.length - 1]!)} (median ${ms(times[10]!)})`);
  }, 50_000);

  test("publishing: a wrong or missing password is refused, the right one is admitted from a third node, and the subscriber gets exactly the admitted messages", async () => {
    const channel = `guarded-${RUN}`;
    const right = password();
    const wrong = password();
    const N = 5;

    // chan-a's subscriber opens the channel with the right password.
    const sub = await client(A);
    expect(outcome(await sub.request({ op: "sub", channel, password: right }))).toBe("ack");
    // Subscribers with a wrong password and with none are refused, and so must never receive anything.
    const subWrong = await client(B);
    const subNone = await client(C);
    expect(outcome(await subWrong.request({ op: "sub", channel, password: wrong }))).toBe("wrong_password");
    expect(outcome(await subNone.request({ op: "sub", channel }))).toBe("wrong_password");

    // chan-a's interest must have reached chan-b and chan-c before they publish, or an admitted
    // message could be lost for want of a route rather than delivered.
    await pollUntil(
      async () => {
        const views = await Promise.all([B, C].map(channelsOf));
        return views.every((v) => v?.some((r) => r.name === channel && r.protected && NAME_A in r.subscribers));
      },
      `chan-b and chan-c listing ${NAME_A} as a subscriber of ${channel}`,
      10_000,
    );

    // Refused publishers on the subscriber's own node (local fan-out) and on another node (mesh).
    const refusedPubs: [string, RawClient][] = [
      [NAME_A, await client(A)],
      [NAME_B, await client(B)],
    ];
    const pubC = await client(C);
    const admitted: string[] = [];
    const answers: string[] = [];
    for (let i = 0; i < N; i++) {
      for (const [name, pub] of refusedPubs) {
        answers.push(`wrong@${name}:${outcome(await pub.request({ op: "pub", channel, password: wrong, data: { run: `wrong-${name}`, i } }))}`);
        answers.push(`none@${name}:${outcome(await pub.request({ op: "pub", channel, data: { run: `none-${name}`, i } }))}`);
      }
      const ack = outcome(await pubC.request({ op: "pub", channel, password: right, data: { run: `right-${NAME_C}`, i } }));
      answers.push(`right@${NAME_C}:${ack}`);
      if (ack === "ack") admitted.push(`right-${NAME_C}#${i}`);
    }
    // A fence on each refused connection, with the right password: messages from one publisher
    // arrive in order, so once the fence is in, anything refused before it that had leaked through
    // would be in too.
    for (const [name, pub] of refusedPubs) {
      const ack = outcome(await pub.request({ op: "pub", channel, password: right, data: { run: `fence-${name}`, i: 0 } }));
      answers.push(`fence@${name}:${ack}`);
      if (ack === "ack") admitted.push(`fence-${name}#0`);
    }
    const expectedAnswers: string[] = [];
    for (let i = 0; i < N; i++) {
      for (const [name] of refusedPubs) expectedAnswers.push(`wrong@${name}:wrong_password`, `none@${name}:wrong_password`);
      expectedAnswers.push(`right@${NAME_C}:ack`);
    }
    for (const [name] of refusedPubs) expectedAnswers.push(`fence@${name}:ack`);
    expect(answers).toEqual(expectedAnswers);

    const tags = (c: RawClient): string[] =>
      c
        .messages()
        .map((f) => f.data as { run?: unknown; i?: unknown })
        .map((d) => `${String(d?.run)}#${String(d?.i)}`)
        .sort();
    await pollUntil(() => admitted.every((t) => tags(sub).includes(t)), `the subscriber to hold all ${admitted.length} admitted messages`, 10_000, 10).catch((err: Error) => {
      throw new Error(`${err.message}; it holds ${JSON.stringify(tags(sub))}`);
    });
    // One round trip on each subscriber's own connection: anything queued behind is in by now.
    for (const c of [sub, subWrong, subNone]) expect((await c.request({ op: "ping" })).op).toBe("pong");
    expect(tags(sub)).toEqual([...admitted].sort());
    expect(received(sub, `right-${NAME_C}`).length).toBe(N);
    expect(subWrong.messages()).toEqual([]);
    expect(subNone.messages()).toEqual([]);
    figure(`publishing on ${channel}: ${N * 2 * refusedPubs.length} refused (wrong_password), ${admitted.length} admitted; the subscriber got exactly the ${admitted.length} admitted`);
  }, 40_000);

  test("no password appears in any log, HTTP answer or byte on a peer link", async () => {
    // A workload of this test's own, so it means something when run alone: a client reaches
    // chan-a through a proxy of its own (the positive control below) and opens a protected
    // channel; chan-c publishes into it with the right password, chan-b tries a wrong one.
    const channel = `leakcheck-${RUN}`;
    const right = password();
    const wrong = password();
    const control = TcpProxy.start({ targetPort: A.port, label: "client proxy to chan-a" });
    otherProxies.push(control);
    const viaProxy = await client(`ws://127.0.0.1:${control.port}`);
    expect(outcome(await viaProxy.request({ op: "sub", channel, password: right }))).toBe("ack");
    await pollUntil(async () => (await channelsOf(C))?.some((r) => r.name === channel && NAME_A in r.subscribers), `chan-c listing ${channel} with a subscriber on chan-a`, 10_000);
    const pubC = await client(C);
    expect(outcome(await pubC.request({ op: "pub", channel, password: right, data: { run: "leak-payload", i: 0 } }))).toBe("ack");
    const pubB = await client(B);
    expect(outcome(await pubB.request({ op: "pub", channel, password: wrong, data: { run: "leak-refused", i: 0 } }))).toBe("wrong_password");
    await pollUntil(() => received(viaProxy, "leak-payload").length === 1, "the message through the client proxy", 10_000, 10);

    // (b) Every HTTP route from every node.
    const routes = ["/channels", "/nodes", "/metrics", "/healthz", "/topology", "/"];
    for (const node of nodes) for (const path of routes) expect(await httpGet(node, path)).not.toBeNull();

    // Stop the nodes now (SIGTERM, graceful): their last log lines and the LEAVE frames are part of
    // what is searched. Then the streams are complete.
    await Promise.all(clients.map((c) => withDeadline(c.close(), 2_000, "client close").catch(() => undefined)));
    const codes = await Promise.all(nodes.map((n) => n.stop("SIGTERM", 6_000)));
    expect(codes).toEqual([0, 0, 0]);
    await Promise.all(nodes.flatMap((n) => [n.stdout.ended, n.stderr.ended]));

    // (a) Logs.
    const logCaptures = nodes.flatMap((n) => [
      { label: `${n.name} stderr`, bytes: Buffer.from(n.stderr.text) },
      { label: `${n.name} stdout`, bytes: Buffer.from(n.stdout.text) },
    ]);

    // (c) Peer links: raw bytes each way, and the unmasked WebSocket payloads.
    const peerCaptures: { label: string; bytes: Uint8Array }[] = [];
    const streams: { label: string; stream: WsStream }[] = [];
    let peerConnections = 0;
    for (const [name, proxy] of proxyOf) {
      for (const conn of proxy.connections) {
        const label = `${proxy.label} #${conn.id}`;
        const up = conn.bytes("up");
        const down = conn.bytes("down");
        peerCaptures.push({ label: `${label} up (raw)`, bytes: up }, { label: `${label} down (raw)`, bytes: down });
        const req = parseWebSocketStream(up, "request");
        const res = parseWebSocketStream(down, "response");
        if (req && /^GET \/peer /.test(req.head)) peerConnections++;
        for (const [dir, stream] of [
          ["up", req],
          ["down", res],
        ] as const) {
          if (!stream) continue;
          streams.push({ label: `${label} ${dir} to/from ${name}`, stream });
          stream.messages.forEach((m, k) => peerCaptures.push({ label: `${label} ${dir} message ${k} (opcode ${m.opcode})`, bytes: m.payload }));
        }
      }
    }

    // The captures are what they claim to be, so a clean search means something:
    // - no message is compressed (permessage-deflate would hide text from a byte search);
    expect(streams.flatMap(({ label, stream }) => (stream.messages.some((m) => m.compressed) ? [label] : []))).toEqual([]);
    // - every binary message on a /peer connection decodes with the node's own codec, so the
    //   recording is whole and the unmasking right;
    const undecodable: string[] = [];
    for (const { label, stream } of streams) {
      if (!/^(GET \/peer |HTTP\/1\.1 101 )/.test(stream.head)) continue;
      stream.messages.forEach((m, k) => {
        if (m.opcode !== 2) return;
        const bad = decodePeerMessage(m.payload, PEER_MAX_FRAME).find((d) => !d.ok);
        if (bad) undecodable.push(`${label} message ${k}: ${!bad.ok ? bad.reason : ""}`);
      });
    }
    expect(undecodable).toEqual([]);
    // - the /peer connections of chan-b and chan-c to chan-a at least (the third link may or may
    //   not have formed), and the registry's records (with their argon2id verifiers), the channel
    //   names and the published payloads did cross the recorded links;
    const seen = (needle: string) => findAll(peerCaptures, [needle]).length > 0;
    expect({ peerConnections: peerConnections >= 2, verifiers: seen("$argon2id$"), raceName: seen([...raceWinners.keys()][0] ?? channel), leakcheck: seen(channel), payload: seen("leak-payload") }).toEqual({
      peerConnections: true,
      verifiers: true,
      raceName: true,
      leakcheck: true,
      payload: true,
    });
    // - the search finds a password where one is: in the control client's own (masked) frames;
    const controlCaptures = control.connections.flatMap((conn) => (parseWebSocketStream(conn.bytes("up"), "request")?.messages ?? []).map((m) => ({ label: "control", bytes: m.payload })));
    expect(findAll(controlCaptures, [right]).length).toBeGreaterThan(0);
    // - the logs are at debug level and hold the refusals.
    expect(nodes.every((n) => / DEBUG /.test(n.stderr.text))).toBe(true);
    expect(nodes.some((n) => /wrong password for channel/.test(n.stderr.text))).toBe(true);

    // The search itself: every password this file used, in every capture, as its UTF-8 bytes (how
    // JSON and MessagePack carry it) and as hex or base64 text (how a log line dumping a frame would).
    const captures = [...logCaptures, ...httpCaptures, ...peerCaptures];
    const needles = passwords.flatMap(encodings);
    const leaks = findAll(captures, needles).map((f) => `${f.needle} in ${f.capture} at ${f.offset}: ${f.context}`);
    const bytes = captures.reduce((sum, c) => sum + c.bytes.byteLength, 0);
    figure(
      `leak search: ${passwords.length} passwords (${needles.length} encodings) in ${logCaptures.length} log streams, ${httpCaptures.length} HTTP answers, ${peerConnections} peer connections (${streams.length} WebSocket streams) - ${bytes} bytes, ${leaks.length} hits`,
    );
    expect(leaks).toEqual([]);
  }, 40_000);
});

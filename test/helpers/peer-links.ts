/**
 * Which mesh link each proxied connection carries, and faults on chosen links (issue 8, chaos).
 *
 * Every node of a proxied cluster advertises its own TcpProxy, so a peer link between x and y is
 * one connection through the proxy of whichever node accepted it. A proxy knows its acceptor (the
 * node behind it) but not the dialer: the WebSocket upgrade names nobody, and the first binary
 * message the dialer sends is its HELLO, which does. PeerLinkMap watches the first bytes of every
 * connection (TcpProxy.setInspector), reads the HELLO, and from then on knows the connection as
 * the link dialer -> acceptor. It tells listeners at that moment, before the HELLO is forwarded,
 * so a Partition can blackhole a link that crosses it before any mesh byte has crossed.
 *
 * Invariants: a connection is classified once (a peer link with its dialer, or not a peer link:
 * an RTT probe, a client); at most HEAD_LIMIT bytes of a connection are kept while it is being
 * classified, and none after; the inspector never changes a connection it does not classify as
 * a link some fault asked for.
 */
import { decodePeerMessage, PEER_PATH } from "../../src/protocol/peer.ts";
import { parseWebSocketStream, type ProxyConnection, type TcpProxy } from "./tcp-proxy.ts";

/** More than any upgrade request plus HELLO; a connection with no HELLO by then is not a peer link. */
const HEAD_LIMIT = 64 * 1024;
/** Bounds the decoder only; HELLO is far smaller. */
const MAX_FRAME = 4 * 1024 * 1024;

/** A peer link as one proxied connection. */
export interface ProxiedLink {
  conn: ProxyConnection;
  proxy: TcpProxy;
  /** The node that opened the connection (named by its HELLO). */
  dialer: string;
  /** The node behind the proxy. */
  acceptor: string;
}

/** What is known of a connection: still reading its head, a peer link, or something else. */
type Verdict = { kind: "pending"; head: Buffer[]; bytes: number } | { kind: "link"; link: ProxiedLink } | { kind: "other" };

export class PeerLinkMap {
  private readonly verdicts = new Map<ProxyConnection, Verdict>();
  private readonly listeners: ((link: ProxiedLink) => void)[] = [];

  /** Watches every proxy in `proxies` (node name -> the proxy it advertises) from now on. */
  constructor(private readonly proxies: ReadonlyMap<string, TcpProxy>) {
    for (const [acceptor, proxy] of proxies) proxy.setInspector((conn, dir, bytes) => this.inspect(proxy, acceptor, conn, dir, bytes));
  }

  /** Calls `listener` for every link identified from now on, before its HELLO is forwarded. */
  onLink(listener: (link: ProxiedLink) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Every identified link whose connection is still open. */
  open(): ProxiedLink[] {
    const out: ProxiedLink[] = [];
    for (const [conn, v] of this.verdicts) {
      if (v.kind === "link" && !conn.closed) out.push(v.link);
    }
    return out;
  }

  /** Identified, open links between `a` and `b`, whichever dialed. */
  between(a: string, b: string): ProxiedLink[] {
    return this.open().filter((l) => (l.dialer === a && l.acceptor === b) || (l.dialer === b && l.acceptor === a));
  }

  /** The link a connection carries, once identified. */
  linkOf(conn: ProxyConnection): ProxiedLink | null {
    const v = this.verdicts.get(conn);
    return v?.kind === "link" ? v.link : null;
  }

  /** Stops watching (the proxies keep running); verdicts already made stay readable. */
  detach(): void {
    for (const proxy of this.proxies.values()) proxy.setInspector(null);
  }

  private inspect(proxy: TcpProxy, acceptor: string, conn: ProxyConnection, dir: "up" | "down", bytes: Uint8Array): void {
    // Only the dialer's bytes name it; the acceptor's answer tells nothing more.
    if (dir !== "up") return;
    let v = this.verdicts.get(conn);
    if (!v) {
      v = { kind: "pending", head: [], bytes: 0 };
      this.verdicts.set(conn, v);
    }
    if (v.kind !== "pending") return;
    v.head.push(Buffer.from(bytes));
    v.bytes += bytes.byteLength;
    const head = Buffer.concat(v.head);
    const dialer = helloName(head);
    if (dialer === undefined) {
      if (v.bytes > HEAD_LIMIT) this.verdicts.set(conn, { kind: "other" });
      return;
    }
    if (dialer === null) {
      this.verdicts.set(conn, { kind: "other" });
      return;
    }
    const link: ProxiedLink = { conn, proxy, dialer, acceptor };
    this.verdicts.set(conn, { kind: "link", link });
    for (const listener of [...this.listeners]) listener(link);
  }
}

/**
 * The dialer's name from the first bytes a connection sent: undefined while more bytes are needed,
 * null when it is not a peer link (plain HTTP, a client's upgrade, a first message that is no HELLO).
 */
function helloName(head: Buffer): string | null | undefined {
  const end = head.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const firstLine = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
  if (!firstLine.startsWith(`GET ${PEER_PATH} `) && !firstLine.startsWith(`GET ${PEER_PATH}?`)) return null;
  const stream = parseWebSocketStream(head, "request");
  if (!stream) return null;
  const first = stream.messages.find((m) => m.opcode === 2 || m.opcode === 1);
  if (!first) return undefined;
  if (first.opcode !== 2) return null;
  const decoded = decodePeerMessage(first.payload, MAX_FRAME)[0];
  return decoded?.ok && decoded.frame.t === "hello" ? decoded.frame.name : null;
}

/**
 * A network partition between groups of nodes: every peer link whose two ends are in different
 * groups is blackholed both ways (bytes and FIN dropped, sockets left open, as a cut cable looks),
 * the links open when it starts and every link dialled while it lasts, on the chunk carrying the
 * HELLO, so not one mesh byte crosses. Links inside a group, RTT probes and clients are untouched.
 *
 * Only the mesh handshake is stopped: a dialer across the partition still completes its TCP
 * connect and WebSocket upgrade with the proxy (the upgrade names nobody), then hears nothing, and
 * its handshake times out as it would against a silent peer.
 */
export class Partition {
  private readonly groupOf = new Map<string, number>();
  private active = false;
  /** Every connection this partition blackholed. */
  readonly blackholed: ProxiedLink[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly map: PeerLinkMap,
    readonly groups: readonly (readonly string[])[],
  ) {
    groups.forEach((g, i) => g.forEach((name) => this.groupOf.set(name, i)));
    this.unsubscribe = map.onLink((link) => {
      if (this.active && this.crosses(link)) this.cut(link);
    });
  }

  /** True when the link's ends are in different groups (a node in no group crosses nothing). */
  crosses(link: ProxiedLink): boolean {
    const a = this.groupOf.get(link.dialer);
    const b = this.groupOf.get(link.acceptor);
    return a !== undefined && b !== undefined && a !== b;
  }

  /** Starts the partition; returns how many open links it blackholed at once. */
  start(): number {
    this.active = true;
    let n = 0;
    for (const link of this.map.open()) {
      if (!this.crosses(link)) continue;
      this.cut(link);
      n++;
    }
    return n;
  }

  /**
   * Heals: links dialled from now on pass. Connections blackholed earlier are closed (FIN both
   * ways): the nodes gave them up after LINK_DEAD_MS of silence, and a half-dead socket left over
   * would only confuse the proxies' bookkeeping.
   */
  heal(): void {
    this.active = false;
    for (const link of this.blackholed) if (!link.conn.closed) link.conn.cut("fin");
  }

  dispose(): void {
    this.active = false;
    this.unsubscribe();
  }

  private cut(link: ProxiedLink): void {
    link.conn.setBlackhole(true, "both");
    this.blackholed.push(link);
  }
}

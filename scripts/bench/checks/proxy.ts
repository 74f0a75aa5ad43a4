/**
 * A recording WebSocket proxy for the codec checks: the official client connects to it, it connects
 * on to the real server (same path, same subprotocol) and forwards every message both ways,
 * keeping what the client sent. So a check sees the exact bytes the official client puts on the
 * wire for a publish, to compare with what our codec builds.
 */
import type { ServerWebSocket } from "bun";
import { concatBytes } from "../../../src/protocol/bytes.ts";

export interface RecordingProxy {
  port: number;
  /** Every message the clients sent, in order, as bytes (text messages UTF-8 encoded). */
  sent: Uint8Array[];
  /** All of them joined: for byte-stream protocols, where one message may hold several commands. */
  sentBytes(): Uint8Array;
  stop(): void;
}

interface Link {
  upstream: WebSocket;
  /** Messages from the client that arrived before the upstream connection opened. */
  early: (string | Uint8Array)[];
}

const encoder = new TextEncoder();

/** Starts a proxy on 127.0.0.1 in front of ws://127.0.0.1:upstreamPort. */
export function startRecordingProxy(upstreamPort: number): RecordingProxy {
  const sent: Uint8Array[] = [];
  const server = Bun.serve<Link>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      const url = new URL(req.url);
      const protocol = req.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim();
      const upstream = new WebSocket(`ws://127.0.0.1:${upstreamPort}${url.pathname}${url.search}`, protocol ? [protocol] : []);
      upstream.binaryType = "arraybuffer";
      const link: Link = { upstream, early: [] };
      const ok = srv.upgrade(req, { data: link, headers: protocol ? { "Sec-WebSocket-Protocol": protocol } : {} });
      return ok ? undefined : new Response("WebSocket only", { status: 426 });
    },
    websocket: {
      open(ws: ServerWebSocket<Link>) {
        const { upstream } = ws.data;
        upstream.onopen = () => {
          for (const m of ws.data.early) upstream.send(m);
          ws.data.early = [];
        };
        upstream.onmessage = (e) => void ws.send(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
        upstream.onclose = () => ws.close();
      },
      message(ws: ServerWebSocket<Link>, message: string | Buffer) {
        const bytes = typeof message === "string" ? encoder.encode(message) : new Uint8Array(message);
        sent.push(bytes);
        const out = typeof message === "string" ? message : new Uint8Array(message);
        if (ws.data.upstream.readyState === WebSocket.OPEN) ws.data.upstream.send(out);
        else ws.data.early.push(out);
      },
      close(ws: ServerWebSocket<Link>) {
        ws.data.upstream.close();
      },
    },
  });
  return {
    port: server.port!,
    sent,
    sentBytes() {
      return concatBytes(sent);
    },
    stop: () => void server.stop(true),
  };
}

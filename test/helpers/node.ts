import { createConsola } from "consola/core";
import { resolveConfig, type RawConfig } from "../../src/node/config.ts";
import { startNode, type RelayNode } from "../../src/node/server.ts";
import { waitFor } from "./wait.ts";

export { waitFor };

/** Starts a real node in this process on an OS-chosen port, with logs silenced. */
export function startTestNode(settings: RawConfig = {}, now?: () => number): RelayNode {
  const config = resolveConfig({ flags: { host: "127.0.0.1", port: 0, logLevel: "silent", ...settings } });
  const log = createConsola({ level: -999 });
  return startNode(config, { log, defaultName: "test-node", ...(now ? { now } : {}) });
}

/** A frame as a raw client sees it: parsed JSON, or decoded MessagePack for binary frames. */
export type Frame = Record<string, unknown>;

/**
 * A plain WebSocket client that records every frame, for speaking raw protocol to a node.
 * `next(pred)` waits for the first recorded frame matching pred that was not taken yet.
 */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  closed: { code: number; reason: string } | null = null;
  private taken = 0;

  private constructor(ws: WebSocket, decode: (data: unknown) => Frame) {
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => this.frames.push(decode(ev.data));
    ws.onclose = (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
    };
  }

  /** Opens a connection and waits for the node's welcome. */
  static async open(url: string, protocols?: string | string[], decode?: (data: unknown) => Frame): Promise<RawClient> {
    const ws = new WebSocket(url, protocols);
    const client = new RawClient(ws, decode ?? ((d) => JSON.parse(String(d)) as Frame));
    await waitFor(() => client.frames.some((f) => f.op === "welcome") || client.closed, "welcome");
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" || frame instanceof Uint8Array ? frame : JSON.stringify(frame));
  }

  /** Waits for a frame matching `pred` (searching all frames received so far and later). */
  async next(pred: (f: Frame) => boolean, what = "a frame", timeoutMs = 5000): Promise<Frame> {
    return waitFor(() => this.frames.find(pred), what, timeoutMs);
  }

  /** Frames with op "msg" so far. */
  messages(): Frame[] {
    return this.frames.filter((f) => f.op === "msg");
  }

  /** Sends a frame with an id and waits for its ack or error. */
  async request(frame: Record<string, unknown>): Promise<Frame> {
    const id = ++this.taken + 1000;
    this.send({ ...frame, id });
    return this.next((f) => (f.op === "ack" || f.op === "error" || f.op === "pong") && f.id === id, `answer to ${String(frame.op)} #${id}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.ws.close();
    await waitFor(() => this.closed, "close");
  }
}

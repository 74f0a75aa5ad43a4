/**
 * Connection rate: how fast a server takes new clients, each counted once it is ready to use (the
 * WebSocket upgrade and the protocol's own handshake). A fixed number of attempts stay in progress
 * at once, like a crowd reconnecting after a restart, so the figure is the server's accept path and
 * not the generator's patience. Connections stay open until the end.
 */
import { codecFor } from "./codecs/index.ts";
import { CloseCounter, openClient, type Conn } from "./connections.ts";
import { ErrorLog } from "./error-log.ts";
import { endWindow, startWindow } from "./measure.ts";
import type { ConnectRateResult, ConnectRateScenario } from "./types.ts";

export async function runConnectRate(s: ConnectRateScenario): Promise<ConnectRateResult> {
  const codec = codecFor(s.codec);
  const errors = new ErrorLog();
  const closes = new CloseCounter();
  await Bun.sleep(s.settleMs);

  const conns: Conn[] = [];
  let next = 0;
  let failed = 0;
  // One worker per slot: each opens connections one after another until all are claimed.
  const worker = async (): Promise<void> => {
    while (next < s.connections) {
      next++;
      try {
        conns.push(await openClient(s.port, codec, errors, closes));
      } catch (err) {
        try {
          conns.push(await openClient(s.port, codec, errors, closes));
        } catch {
          failed++;
          errors.note(`connect failed: ${(err as Error).message}`);
        }
      }
    }
  };
  const win = startWindow([s.serverPid]);
  await Promise.all(Array.from({ length: s.concurrency }, worker));
  const { window } = endWindow(win);

  const serverCloses = closes.count;
  for (const c of conns) c.client.close();
  return { kind: "connect-rate", window, connections: conns.length, failed, errors: errors.toJSON(), closes: serverCloses };
}

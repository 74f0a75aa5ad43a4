/** The codecs by id: the generator gets an id in its scenario JSON and looks the codec up here. */
import type { Codec, CodecId } from "./codec.ts";
import { mqttCodec } from "./mqtt.ts";
import { natsCodec } from "./nats.ts";
import { relayCodec } from "./relay.ts";
import { socketioCodec } from "./socketio.ts";
import { wsRelayCodec } from "./ws-relay.ts";

export type { Codec, CodecId, Frame, SetupConn, Sink } from "./codec.ts";

/**
 * "relay" publishes fire-and-forget, like every other system; "relay-acked" asks for an ack per
 * publish, which the mesh bench's loops wait for.
 */
export type CodecName = CodecId | "relay-acked";

const CODECS: Record<CodecName, Codec> = {
  relay: relayCodec({ acks: false }),
  "relay-acked": relayCodec({ acks: true }),
  nats: natsCodec,
  mqtt: mqttCodec,
  socketio: socketioCodec,
  "ws-relay": wsRelayCodec,
};

export function codecFor(name: CodecName): Codec {
  return CODECS[name];
}

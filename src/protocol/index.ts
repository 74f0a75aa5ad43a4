/** The protocol's public surface: what the node, the SDK and the CLI may import. */
export { ERRORS, type ErrorCode, isErrorCode, closeCodeOf, codeOfClose } from "./errors.ts";
export { MAX_CHANNEL_LENGTH, channelProblem, isChannelName, describeChannelProblem, type ChannelProblem } from "./channel.ts";
export {
  SUBPROTOCOL_JSON,
  SUBPROTOCOL_MSGPACK,
  PROTOCOL_VERSION,
  FRAME_OVERHEAD,
  ClientFrameDecoder,
  decodeServerFrame,
  encodeClientFrame,
  encodeServerFrame,
  msgFrameJson,
  msgFrameMsgpack,
  payloadToJson,
  payloadSize,
  type ClientFrame,
  type ServerFrame,
  type Encoding,
  type Payload,
  type RequestId,
  type JsonPayload,
  type WelcomeLimits,
  type Decoded,
} from "./client.ts";
export { toBase64, fromBase64, utf8Length } from "./bytes.ts";

/**
 * The protocol's public surface, shared by the node, the SDK and the CLI. The node's validating
 * decoder is imported from ./client-decode.ts directly, so browser bundles never carry valibot.
 */
export { ERRORS, type ErrorCode, isErrorCode, closeCodeOf, codeOfClose } from "./errors.ts";
export { MAX_CHANNEL_LENGTH, channelProblem, isChannelName, describeChannelProblem, type ChannelProblem } from "./channel.ts";
export {
  SUBPROTOCOL_JSON,
  SUBPROTOCOL_MSGPACK,
  SUBPROTOCOL_JSON_V2,
  SUBPROTOCOL_MSGPACK_V2,
  PROTOCOL_VERSION,
  FRAME_OVERHEAD,
  maxFrameBytes,
  MAX_PAYLOAD_DEPTH,
  decodeServerFrame,
  decodeServerMessage,
  joinJsonFrames,
  joinMsgpackFrames,
  encodeClientFrame,
  encodeServerFrame,
  msgFrameJson,
  msgFrameMsgpack,
  payloadToJson,
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

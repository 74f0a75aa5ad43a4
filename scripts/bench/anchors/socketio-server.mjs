// The Socket.IO 4 anchor: `node socketio-server.mjs --port P [--ping-interval MS]`, on 127.0.0.1.
//
// The websocket transport only, as the issue asks (no long-polling first); every other option is
// Socket.IO's default. The protocol is the one a Socket.IO app would write for pub/sub with rooms:
//   "sub" (channel, ack)  joins the room named after the channel, then calls the ack;
//   "pub" (channel, data) emits "msg" (channel, data) to that room.
// --ping-interval exists for scripts/bench/checks/socketio.ts only (to see pings answered quickly);
// the bench never passes it.
import { createServer } from "node:http";
import { Server } from "socket.io";

const arg = (name) => {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
};
const port = Number(arg("--port"));
const pingInterval = arg("--ping-interval");

const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  ...(pingInterval ? { pingInterval: Number(pingInterval), pingTimeout: Number(pingInterval) } : {}),
});

io.on("connection", (socket) => {
  socket.on("sub", (channel, ack) => {
    socket.join(channel);
    if (typeof ack === "function") ack();
  });
  socket.on("pub", (channel, data) => {
    io.to(channel).emit("msg", channel, data);
  });
});

http.listen(port, "127.0.0.1");
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));

// Plain TCP connections to the server, for what fetch() will not do: bodies that never end,
// headers sent a byte at a time, clients that vanish.
import net from "node:net";

export function connect(baseUrl) {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once("error", reject);
  });
}

// Resolves when the server closes (or resets) the socket, with everything it sent.
export function untilClosed(socket) {
  return new Promise((resolve) => {
    let received = "";
    socket.on("data", (d) => { received += d.toString("latin1"); });
    socket.on("error", () => {});  // a reset is also a close here
    socket.once("close", () => resolve(received));
  });
}

// The status of the first response in `text` ("HTTP/1.1 413 ..."), or null.
export function statusOf(text) {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : null;
}

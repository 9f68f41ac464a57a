/**
 * A minimal SMTP sink on 127.0.0.1 (free port) that records every message, for alert tests.
 *
 *   startSmtpSink(): Promise<SmtpSink>
 *   SmtpSink.url        "smtp://127.0.0.1:<port>" (what the smtp-url secret holds)
 *   SmtpSink.messages   [{ from, to[], data }] in arrival order
 *   SmtpSink.stop()
 */
import * as net from "net";

export interface SmtpMessage {
  readonly from: string;
  readonly to: string[];
  readonly data: string;
}

export interface SmtpSink {
  readonly port: number;
  readonly url: string;
  readonly messages: SmtpMessage[];
  stop(): Promise<void>;
}

export function startSmtpSink(): Promise<SmtpSink> {
  const messages: SmtpMessage[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffer = "";
    let inData = false;
    let from = "";
    let to: string[] = [];
    let data = "";
    socket.write("220 dbtier-test ESMTP\r\n");
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      for (;;) {
        if (inData) {
          const end = buffer.indexOf("\r\n.\r\n");
          if (end < 0) return;
          data += buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          messages.push({ from, to, data });
          inData = false;
          data = "";
          socket.write("250 OK queued\r\n");
          continue;
        }
        const eol = buffer.indexOf("\r\n");
        if (eol < 0) return;
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") socket.write("250-dbtier-test\r\n250 8BITMIME\r\n");
        else if (verb === "MAIL") {
          from = line.replace(/^MAIL FROM:\s*/i, "");
          to = [];
          socket.write("250 OK\r\n");
        } else if (verb === "RCPT") {
          to.push(line.replace(/^RCPT TO:\s*/i, ""));
          socket.write("250 OK\r\n");
        } else if (verb === "DATA") {
          inData = true;
          socket.write("354 go ahead\r\n");
        } else if (verb === "QUIT") {
          socket.end("221 bye\r\n");
          return;
        } else socket.write("250 OK\r\n");
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        url: `smtp://127.0.0.1:${address.port}`,
        messages,
        stop: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

import type { Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Requests Node's HTTP parser refuses (a malformed request line, a header section over 16 KB,
 * a control character in a header) never reach Express, and Node answers them with a bare
 * status line and no body. This answers them as every other error: JSON
 * `{ statusCode, error, message }`, then closes the connection, whose framing is lost.
 */
export function answerMalformedRequestsWithJson(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // The client went away, or Node already answered (a timeout it handled itself).
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, message] = describe(error.code);
    const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], message });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}

function describe(code: string | undefined): [number, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request headers are larger than 16 KB'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request was not received in time'];
    default:
      return [400, 'Malformed HTTP request'];
  }
}

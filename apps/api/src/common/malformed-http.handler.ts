import { HttpException } from '@nestjs/common';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBodyOf } from './http-error.filter';

/**
 * Fastify's `clientErrorHandler`, for the requests Node's HTTP parser refuses (a malformed
 * request line, a header section over 16 KB, a control character in a header): they never
 * reach a route, and Fastify's own answer has a `code` field that no other error has. This
 * answers them as every other error: JSON `{ statusCode, error, message }`, then closes the
 * connection, whose framing is lost.
 */
export function answerMalformedRequestWithJson(error: NodeJS.ErrnoException, socket: Duplex): void {
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

/**
 * Fastify's `frameworkErrors`, for a path its router cannot read (a percent sign that encodes
 * no UTF-8, as in `/v1/webhooks/%ff`): answered before any hook or filter runs, so Fastify
 * would write its own shape, with a `code`; this one is the api's.
 */
export function answerUnroutableRequestWithJson(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const body = errorBodyOf(new HttpException(error.message, error.statusCode ?? 400));
  void reply.code(body.statusCode).send(body);
}

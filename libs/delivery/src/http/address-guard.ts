import { LookupAddress, lookup as dnsLookup } from 'node:dns';
import { LookupFunction, isIP } from 'node:net';
import * as ipaddr from 'ipaddr.js';

/** Thrown (through the socket) when a webhook URL leads to a non-public address. */
export class BlockedAddressError extends Error {
  readonly code = 'EBLOCKEDADDRESS';

  constructor(
    readonly host: string,
    readonly address: string,
    readonly range: string,
  ) {
    super(`blocked address: ${host} resolves to ${address} (${range})`);
    this.name = 'BlockedAddressError';
  }
}

/**
 * The range an address belongs to, as ipaddr.js names it; only `unicast` is public.
 * IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged as the IPv4 address it carries.
 */
export function addressRange(address: string): string {
  const parsed = ipaddr.parse(address);
  if (parsed instanceof ipaddr.IPv6) {
    if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().range();
    // ::a.b.c.d, the deprecated IPv4-compatible form, which ipaddr.js calls unicast.
    if (parsed.parts.slice(0, 6).every((part) => part === 0) && parsed.range() === 'unicast') {
      return 'ipv4Compatible';
    }
  }
  return parsed.range();
}

export function isPublicAddress(address: string): boolean {
  return ipaddr.isValid(address) && addressRange(address) === 'unicast';
}

/** Refuses an IP literal that is not public; host names are checked at lookup. */
export function assertPublicLiteral(host: string): void {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) !== 0 && !isPublicAddress(bare)) {
    throw new BlockedAddressError(host, bare, addressRange(bare));
  }
}

/**
 * A `lookup` for the HTTP agents: resolves the name and refuses it when any of its
 * addresses is not public. The socket then connects to the very address checked here,
 * so a second, different DNS answer (rebinding) never gets a chance.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, []);
    const blocked = addresses.find((entry) => !isPublicAddress(entry.address));
    if (blocked) {
      return callback(
        new BlockedAddressError(hostname, blocked.address, addressRange(blocked.address)),
        [],
      );
    }
    if (options.all) return callback(null, addresses);
    const [first] = addresses;
    return callback(null, first.address, first.family);
  });
};

/**
 * What can be told from the URL alone, before any DNS lookup: refused at webhook creation
 * so the mistake shows at once. Names are still checked again at every delivery.
 */
export function literalDestinationProblem(url: string): string | undefined {
  const { hostname } = new URL(url);
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (bare === 'localhost' || bare.endsWith('.localhost')) {
    return `${hostname} is a loopback name`;
  }
  if (isIP(bare) !== 0 && !isPublicAddress(bare)) {
    return `${hostname} is a non-public address (${addressRange(bare)})`;
  }
  return undefined;
}

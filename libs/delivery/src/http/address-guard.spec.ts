import { isPublicAddress, literalDestinationProblem } from './address-guard';

describe('isPublicAddress (classification only: nothing is dialled)', () => {
  it.each([
    ['127.0.0.1', false],
    ['127.255.1.2', false],
    ['0.0.0.0', false],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    ['198.18.0.1', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fc00::1', false],
    ['ff02::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['::7f00:1', false],
    ['64:ff9b::a00:1', false],
    ['2002:a00:1::1', false],
    ['2001::1', false],
    ['93.184.216.34', true],
    ['8.8.8.8', true],
    ['2606:4700:4700::1111', true],
    ['not an address', false],
  ])('%s is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe('literalDestinationProblem', () => {
  it.each([
    ['http://127.0.0.1/x', /non-public address/],
    ['http://localhost:8080/x', /loopback name/],
    ['http://api.localhost/x', /loopback name/],
    ['http://[::1]/x', /non-public address/],
    ['http://0x7f000001/x', /non-public address/],
    ['http://127.1/x', /non-public address/],
    ['http://[::ffff:7f00:1]/x', /non-public address/],
  ])('%s is refused', (url, problem) => {
    expect(literalDestinationProblem(url)).toMatch(problem);
  });

  it.each(['https://hooks.example.com/x', 'http://93.184.216.34/x'])('%s passes', (url) => {
    expect(literalDestinationProblem(url)).toBeUndefined();
  });
});

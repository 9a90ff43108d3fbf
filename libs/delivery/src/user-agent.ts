import { name, version } from '../../../package.json';

/** `user-agent` of every webhook request, so receivers can tell us apart and by version. */
export const USER_AGENT = `${name}/${version}`;

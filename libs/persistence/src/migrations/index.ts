import { InitialSchema1764172800000 } from './1764172800000-InitialSchema';

/** Listed explicitly: the apps are bundled, so a glob over migration files would find nothing. */
export const MIGRATIONS = [InitialSchema1764172800000];

// Public surface of config/: typed settings, the home layout, the merge, the profile store.
export * from './schema.js';
export * from './paths.js';
export * from './load.js';
export { ProfileStore, assertProfileName, type ProfileSummary } from './profile-store.js';

// config/: the flags → env → profile → defaults merge, token/URL pairing, conf-file validation,
// and the 0600 mode of the file that stores tokens.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, ProfileStore, aetherPaths, resolveHome, maskToken, validateProfile } from '../../../src/config/index.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir('aether-cfg-unit-');
});
afterEach(async () => {
  await tmp.cleanup();
});

const load = (env: Record<string, string | undefined>, flags = {}) => loadConfig({ env: { AETHER_HOME: tmp.dir, ...env }, flags, cwd: tmp.dir });

describe('paths', () => {
  it('AETHER_HOME (relative to cwd) or ~/.aether', () => {
    expect(resolveHome({ AETHER_HOME: 'h' }, '/work')).toBe('/work/h');
    expect(resolveHome({}, '/work', '/home/u')).toBe('/home/u/.aether');
    const p = aetherPaths('/h');
    expect(p).toMatchObject({ configDir: '/h/config', configFile: '/h/config/config.json', cacheDir: '/h/cache', stateDir: '/h/state', gatewayDir: '/h/gateway', gatewayDataDir: '/h/gateway/data', logsDir: '/h/logs' });
  });
});

describe('ProfileStore', () => {
  it('writes the conf file with mode 0600 (dir 0700), even over a looser existing file', async () => {
    const store = new ProfileStore(path.join(tmp.dir, 'config'));
    store.update('default', { url: 'http://gw', token: 'tok_secret_1234' });
    const st = await fs.stat(store.path);
    expect(store.path).toBe(path.join(tmp.dir, 'config', 'config.json'));
    expect(st.mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(tmp.dir, 'config'))).mode & 0o777).toBe(0o700);
    await fs.chmod(store.path, 0o644);
    store.update('other', { url: 'http://gw2' });
    expect((await fs.stat(store.path)).mode & 0o777).toBe(0o600);
  });

  it('lists profiles with masked tokens; use/remove/clearToken', () => {
    const store = new ProfileStore(path.join(tmp.dir, 'config'));
    store.update('a', { url: 'http://a', token: 'aaaaaaaaaaaa1111' });
    store.update('b', { url: 'http://b' });
    expect(store.list()).toEqual([
      { name: 'a', active: false, url: 'http://a', token: '****1111' },
      { name: 'b', active: false, url: 'http://b' },
    ]);
    store.use('b');
    expect(store.activeProfile).toBe('b');
    expect(() => store.use('zzz')).toThrow(/no profile named/);
    expect(store.clearToken('a')).toBe(true);
    expect(store.get('a')).toEqual({ url: 'http://a' });
    expect(store.remove('b')).toBe(true);
    expect(store.activeProfile).toBe('default');
    expect(() => store.update('bad name', {})).toThrow(/invalid profile name/);
  });

  it('a malformed file is an error with a hint, not silently cleared', async () => {
    await fs.mkdir(path.join(tmp.dir, 'config'), { recursive: true });
    await fs.writeFile(path.join(tmp.dir, 'config', 'config.json'), '{not json');
    expect(() => new ProfileStore(path.join(tmp.dir, 'config'))).toThrow(/cannot read the config file/);
    expect(await fs.readFile(path.join(tmp.dir, 'config', 'config.json'), 'utf8')).toBe('{not json');
  });
});

describe('validateProfile', () => {
  it('keeps good keys, warns about unknown or ill-typed ones', () => {
    const { settings, warnings } = validateProfile('p', { url: 'https://x/', token: 't', colour: 'red', logLevel: 'loud', session: 3 });
    expect(settings).toEqual({ url: 'https://x', token: 't' });
    expect(warnings).toHaveLength(3);
    expect(validateProfile('p', { url: 'ftp://x' }).warnings[0]).toMatch(/url ignored/);
    expect(validateProfile('p', 'nope').warnings[0]).toMatch(/not an object/);
  });

  it('maskToken shows the last 4 characters at most', () => {
    expect(maskToken('abcdefghijkl')).toBe('****ijkl');
    expect(maskToken('short')).toBe('****');
    expect(maskToken(undefined)).toBeUndefined();
  });
});

describe('loadConfig precedence', () => {
  beforeEach(() => {
    const store = new ProfileStore(path.join(tmp.dir, 'config'));
    store.update('default', { url: 'http://profile:1', token: 'profile-token', session: 'sess_profile', cacheSize: '2G', logLevel: 'info' });
    store.update('work', { url: 'http://work:1', token: 'work-token' });
  });

  it('defaults to the active profile', () => {
    const { config, origin, profileExists } = load({});
    expect(config).toMatchObject({ profile: 'default', url: 'http://profile:1', token: 'profile-token', session: 'sess_profile', cacheSize: '2G', logLevel: 'info' });
    expect(origin).toMatchObject({ url: 'profile', token: 'profile', session: 'profile', cacheSize: 'profile', logLevel: 'profile' });
    expect(profileExists).toBe(true);
  });

  it('env beats profile; flags beat env', () => {
    const env = { AETHER_URL: 'http://env:1', AETHER_TOKEN: 'env-token', AETHER_SESSION: 'sess_env', AETHER_LOG: 'debug', AETHER_CACHE_SIZE: '5G' };
    expect(load(env).config).toMatchObject({ url: 'http://env:1', token: 'env-token', session: 'sess_env', logLevel: 'debug', cacheSize: '5G' });
    const flagged = load(env, { url: 'http://flag:1/', token: 'flag-token', session: 'sess_flag' });
    expect(flagged.config).toMatchObject({ url: 'http://flag:1', token: 'flag-token', session: 'sess_flag' });
    expect(flagged.origin).toMatchObject({ url: 'flag', token: 'flag', session: 'flag' });
  });

  it('the profile token only goes with the profile URL', () => {
    const r = load({ AETHER_URL: 'http://elsewhere:1' });
    expect(r.config.url).toBe('http://elsewhere:1');
    expect(r.config.token).toBeUndefined();
    // The same URL as the profile's may use its token.
    expect(load({ AETHER_URL: 'http://profile:1' }).config.token).toBe('profile-token');
    // An env token pairs with the profile URL.
    expect(load({ AETHER_TOKEN: 'env-token' }).config).toMatchObject({ url: 'http://profile:1', token: 'env-token' });
  });

  it('--profile / AETHER_PROFILE select another profile', () => {
    expect(load({ AETHER_PROFILE: 'work' }).config).toMatchObject({ profile: 'work', url: 'http://work:1', token: 'work-token' });
    expect(load({ AETHER_PROFILE: 'work' }, { profile: 'default' }).config.profile).toBe('default');
    expect(load({ AETHER_PROFILE: 'ghost' }).profileExists).toBe(false);
  });

  it('without any URL the embedded gateway is used and a stray token is ignored with a warning', async () => {
    const empty = await makeTempDir('aether-cfg-empty-');
    try {
      const r = loadConfig({ env: { AETHER_HOME: empty.dir, AETHER_TOKEN: 't' }, cwd: empty.dir });
      expect(r.config.url).toBeUndefined();
      expect(r.config.token).toBeUndefined();
      expect(r.warnings.join('\n')).toMatch(/without a gateway URL/);
      expect(r.config.cacheDir).toBe(path.join(empty.dir, 'cache', 'cas'));
      expect(r.config.logLevel).toBe('warn');
    } finally {
      await empty.cleanup();
    }
  });

  it('reports a bad URL from a flag or env as an error; a bad AETHER_LOG as a warning; NO_COLOR', () => {
    expect(load({ AETHER_URL: 'not a url' }).errors[0]).toMatch(/AETHER_URL: not a URL/);
    expect(load({}, { url: 'ftp://x' }).errors[0]).toMatch(/--url: unsupported URL scheme/);
    expect(load({ AETHER_LOG: 'chatty' }).warnings.join()).toMatch(/AETHER_LOG=chatty/);
    expect(load({ NO_COLOR: '' }).config.noColor).toBe(true);
    expect(load({}).config.noColor).toBe(false);
  });
});

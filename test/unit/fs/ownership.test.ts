// OwnerTable: default owner, partial chown (-1), BSD group inheritance from set-group-ID dirs.
import { describe, expect, it } from 'vitest';
import { OwnerTable } from '../../../src/fs/ownership.js';

describe('OwnerTable', () => {
  it('defaults, chown with -1 parts, and no entry for the default owner', () => {
    const t = new OwnerTable({ uid: 0, gid: 0 });
    expect(t.get(5)).toEqual({ uid: 0, gid: 0 });
    t.set(5, 1000, -1);
    expect(t.get(5)).toEqual({ uid: 1000, gid: 0 });
    t.set(5, -1, 50);
    expect(t.get(5)).toEqual({ uid: 1000, gid: 50 });
    t.set(5, 0, 0);
    expect(t.size).toBe(0);
  });

  it('new names: caller owns them; a set-group-ID parent gives its group and (dirs) the bit', () => {
    const t = new OwnerTable({ uid: 0, gid: 0 });
    t.set(2, 0, 1234);
    expect(t.forNew({ uid: 7, gid: 8 }, 2, 0o040755)).toEqual({ uid: 7, gid: 8 });
    expect(t.forNew({ uid: 7, gid: 8 }, 2, 0o042777)).toEqual({ uid: 7, gid: 1234 });
    expect(OwnerTable.inheritedDirMode(0o040755, 0o042777)).toBe(0o2755);
    expect(OwnerTable.inheritedDirMode(0o100644, 0o042777)).toBeUndefined();
    expect(OwnerTable.inheritedDirMode(0o040755, 0o040777)).toBeUndefined();
  });
});

// OwnerTable: the core's owner by default, partial chown (-1), BSD group inheritance from
// set-group-ID directories.
import { describe, expect, it } from 'vitest';
import { OwnerTable } from '../../../src/fs/ownership.js';

const core = { uid: 0, gid: 0 };

describe('OwnerTable', () => {
  it('defaults to the core owner, chown with -1 parts, no entry for the core owner', () => {
    const t = new OwnerTable();
    expect(t.get(5, core)).toEqual({ uid: 0, gid: 0 });
    t.set(5, 1000, -1, core);
    expect(t.get(5, core)).toEqual({ uid: 1000, gid: 0 });
    t.set(5, -1, 50, core);
    expect(t.get(5, core)).toEqual({ uid: 1000, gid: 50 });
    t.set(5, 0, 0, core);
    expect(t.size).toBe(0);
  });

  it('new names: caller owns them; a set-group-ID parent gives its group and (dirs) the bit', () => {
    const t = new OwnerTable();
    t.set(2, 0, 1234, core);
    expect(t.forNew({ uid: 7, gid: 8 }, { ino: 2, mode: 0o040755, ...core })).toEqual({ uid: 7, gid: 8 });
    expect(t.forNew({ uid: 7, gid: 8 }, { ino: 2, mode: 0o042777, ...core })).toEqual({ uid: 7, gid: 1234 });
    expect(OwnerTable.inheritedDirMode(0o040755, 0o042777)).toBe(0o2755);
    expect(OwnerTable.inheritedDirMode(0o100644, 0o042777)).toBeUndefined();
    expect(OwnerTable.inheritedDirMode(0o040755, 0o040777)).toBeUndefined();
  });
});

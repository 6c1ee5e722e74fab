// RangeSet: a sorted set of disjoint half-open byte ranges [start, end). Tracks which bytes of a
// file were written locally (and so live in the staging file rather than in remote extents).
export interface Range {
  start: number;
  end: number;
}

export class RangeSet {
  private r: Range[] = [];

  static from(ranges: Range[]): RangeSet {
    const s = new RangeSet();
    for (const x of ranges) s.add(x.start, x.end);
    return s;
  }

  get ranges(): readonly Range[] {
    return this.r;
  }

  get isEmpty(): boolean {
    return this.r.length === 0;
  }

  /** Total bytes covered. */
  get size(): number {
    return this.r.reduce((a, x) => a + x.end - x.start, 0);
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const out: Range[] = [];
    let s = start;
    let e = end;
    let placed = false;
    for (const x of this.r) {
      if (x.end < s) out.push(x);
      else if (x.start > e) {
        if (!placed) {
          out.push({ start: s, end: e });
          placed = true;
        }
        out.push(x);
      } else {
        s = Math.min(s, x.start);
        e = Math.max(e, x.end);
      }
    }
    if (!placed) out.push({ start: s, end: e });
    this.r = out;
  }

  /** Drop everything at or beyond `limit`. */
  truncate(limit: number): void {
    const out: Range[] = [];
    for (const x of this.r) {
      if (x.start >= limit) break;
      out.push({ start: x.start, end: Math.min(x.end, limit) });
    }
    this.r = out;
  }

  /**
   * Split [start, end) into consecutive pieces, each marked as inside (covered) or not.
   */
  split(start: number, end: number): Array<Range & { inside: boolean }> {
    const out: Array<Range & { inside: boolean }> = [];
    let pos = start;
    for (const x of this.r) {
      if (x.end <= pos) continue;
      if (x.start >= end) break;
      if (x.start > pos) out.push({ start: pos, end: x.start, inside: false });
      const s = Math.max(pos, x.start);
      const e = Math.min(end, x.end);
      out.push({ start: s, end: e, inside: true });
      pos = e;
    }
    if (pos < end) out.push({ start: pos, end, inside: false });
    return out;
  }

  clone(): RangeSet {
    const s = new RangeSet();
    s.r = this.r.map((x) => ({ ...x }));
    return s;
  }

  clear(): void {
    this.r = [];
  }
}

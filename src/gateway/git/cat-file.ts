// One long-lived `git cat-file --batch` process per import: object ids go in on stdin, "<sha>
// <type> <size>\n<bytes>\n" records come back on stdout in the same order. Requests may be
// pipelined (several outstanding reads); answers are matched to requests FIFO.
//
// Invariant: after an error (git died, a record was malformed, close() or abort), every pending and
// future read rejects; the object is single-use.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawnGit, GitError } from './git-runner.js';

/** One object read from the repository. */
export interface GitObject {
  sha: string;
  type: string;
  data: Buffer;
}

interface Pending {
  sha: string;
  resolve: (o: GitObject) => void;
  reject: (e: Error) => void;
}

export class CatFileBatch {
  private child: ChildProcessWithoutNullStreams;
  private queue: Pending[] = [];
  /** Partial header line carried over between stdout chunks. */
  private line: Buffer = Buffer.alloc(0);
  /** The record whose body is being received. */
  private current: { sha: string; type: string; data: Buffer; got: number } | undefined;
  private failed: Error | undefined;
  private stderr = '';

  /** Start `git cat-file --batch` in the repository `gitDir`. */
  constructor(gitDir: string, signal?: AbortSignal) {
    this.child = spawnGit(['cat-file', '--batch'], { cwd: gitDir, signal });
    this.child.stdout.on('data', (b: Buffer) => this.onData(b));
    this.child.stderr.on('data', (b: Buffer) => {
      if (this.stderr.length < 8192) this.stderr += b.toString('utf8');
    });
    this.child.on('error', (err) => this.fail(new GitError('cat-file', null, err.name === 'AbortError' ? 'cancelled' : err.message, undefined, { cause: err })));
    this.child.on('close', (code) => {
      if (this.queue.length || code !== 0) this.fail(new GitError('cat-file', code, this.stderr || 'git cat-file exited unexpectedly'));
      else this.failed ??= new Error('cat-file batch is closed');
    });
    this.child.stdin.on('error', (err) => this.fail(new GitError('cat-file', null, err.message, undefined, { cause: err })));
  }

  /** Read one object by id (any form git accepts on the batch input, normally a 40-hex sha). */
  read(sha: string): Promise<GitObject> {
    if (this.failed) return Promise.reject(this.failed);
    if (!/^[0-9a-f]{40}$/.test(sha)) return Promise.reject(new Error(`not an object id: ${sha}`));
    return new Promise<GitObject>((resolve, reject) => {
      this.queue.push({ sha, resolve, reject });
      this.child.stdin.write(sha + '\n');
    });
  }

  /** Stop the process; pending reads reject. */
  close(): void {
    if (!this.failed) this.failed = new Error('cat-file batch is closed');
    this.child.stdin.end();
    for (const p of this.queue.splice(0)) p.reject(this.failed);
  }

  private fail(err: Error): void {
    if (this.failed && !this.queue.length) return;
    this.failed ??= err;
    for (const p of this.queue.splice(0)) p.reject(this.failed);
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }

  private onData(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const cur = this.current;
      if (!cur) {
        const nl = chunk.indexOf(10, off);
        if (nl < 0) {
          this.line = Buffer.concat([this.line, chunk.subarray(off)]);
          return;
        }
        const line = Buffer.concat([this.line, chunk.subarray(off, nl)]).toString('utf8');
        this.line = Buffer.alloc(0);
        off = nl + 1;
        const head = this.queue[0];
        if (!head) return this.fail(new Error(`unexpected cat-file output: ${line}`));
        const parts = line.split(' ');
        if (parts[1] === 'missing' || parts.length !== 3 || !/^\d+$/.test(parts[2]!)) {
          this.queue.shift();
          head.reject(new GitError('cat-file', null, `object ${head.sha} is missing from the mirror`));
          continue;
        }
        const size = Number(parts[2]);
        // The body is copied into its own buffer so a record never pins the pipe's chunks.
        this.current = { sha: parts[0]!, type: parts[1]!, data: Buffer.allocUnsafe(size), got: 0 };
        continue;
      }
      if (cur.got < cur.data.length) {
        const n = Math.min(cur.data.length - cur.got, chunk.length - off);
        chunk.copy(cur.data, cur.got, off, off + n);
        cur.got += n;
        off += n;
        continue;
      }
      off += 1; // the LF after the body
      this.current = undefined;
      this.queue.shift()!.resolve({ sha: cur.sha, type: cur.type, data: cur.data });
    }
  }
}

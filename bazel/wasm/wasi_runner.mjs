// Runs a wasm32-wasi program under node: node wasi_runner.mjs PROGRAM.wasm [ARGS...]
//
// A small WASI preview1 host of our own rather than node:wasi: node 20.20's WASI crashes
// (SIGSEGV in V8, after the program returned) in about half the runs of a program whose memory
// grew by tens of MiB, with wasi-libc's malloc as with ours; and node 18 (Debian's nodejs) has
// it behind a flag. This host implements what C programs and GoogleTest use: arguments,
// environment, clocks, stdio, and files under preopened directories.
//
// Inside a Bazel test, the directory of the XML report Bazel asks for (XML_OUTPUT_FILE) is
// preopened as /xml and XML_OUTPUT_FILE points there, so GoogleTest writes a real test.xml
// with every test case. The exit code is the program's; a trap (abort(), unreachable) prints
// the error and exits 134 as SIGABRT would.
import fs from 'node:fs';
import path from 'node:path';

const [program, ...programArgs] = process.argv.slice(2);
const args = [path.basename(program), ...programArgs];
const env = {};
const preopens = [];  // [guest name, host directory]
if (process.env.XML_OUTPUT_FILE) {
  preopens.push(['/xml', path.dirname(path.resolve(process.env.XML_OUTPUT_FILE))]);
  env.XML_OUTPUT_FILE = '/xml/' + path.basename(process.env.XML_OUTPUT_FILE);
}
for (const [key, value] of Object.entries(process.env)) {
  if (key.startsWith('GTEST_') && key !== 'GTEST_SHARD_STATUS_FILE') env[key] = value;
}

// WASI errno values.
const E = { SUCCESS: 0, ACCES: 2, BADF: 8, EXIST: 20, INVAL: 28, IO: 29, ISDIR: 31, NOENT: 44,
  NOSYS: 52, NOTDIR: 54, NOTEMPTY: 55, SPIPE: 70 };
const HOST_ERRNO = { EACCES: E.ACCES, EPERM: E.ACCES, EEXIST: E.EXIST, EISDIR: E.ISDIR,
  ENOENT: E.NOENT, ENOTDIR: E.NOTDIR, ENOTEMPTY: E.NOTEMPTY, EBADF: E.BADF, EINVAL: E.INVAL };
const FILETYPE = { CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4 };

class Exit {
  constructor(code) { this.code = code; }
}

// Guest file descriptors: 0-2 stdio, then the preopens, then opened files.
const fds = new Map([
  [0, { host: 0, type: FILETYPE.CHARACTER_DEVICE }],
  [1, { host: 1, type: FILETYPE.CHARACTER_DEVICE }],
  [2, { host: 2, type: FILETYPE.CHARACTER_DEVICE }],
]);
preopens.forEach(([name, dir], i) => fds.set(3 + i, { type: FILETYPE.DIRECTORY, name, dir }));
let nextFd = 3 + preopens.length;

let memory;
const view = () => new DataView(memory.buffer);
const bytes = (ptr, len) => new Uint8Array(memory.buffer, ptr, len);
const text = (ptr, len) => Buffer.from(bytes(ptr, len)).toString('utf8');

function hostCall(fn) {
  try {
    return fn() ?? E.SUCCESS;
  } catch (error) {
    if (error instanceof Exit) throw error;
    return HOST_ERRNO[error.code] ?? E.IO;
  }
}

function putStrings(strings, pointersPtr, bufferPtr) {
  const v = view();
  for (const s of strings) {
    v.setUint32(pointersPtr, bufferPtr, true);
    pointersPtr += 4;
    const encoded = Buffer.from(s + '\0');
    bytes(bufferPtr, encoded.length).set(encoded);
    bufferPtr += encoded.length;
  }
  return E.SUCCESS;
}

function putSizes(strings, countPtr, sizePtr) {
  const v = view();
  v.setUint32(countPtr, strings.length, true);
  v.setUint32(sizePtr, strings.reduce((n, s) => n + Buffer.byteLength(s) + 1, 0), true);
  return E.SUCCESS;
}

function resolve(dirFd, pathPtr, pathLen) {
  const dir = fds.get(dirFd);
  if (!dir || dir.type !== FILETYPE.DIRECTORY) throw Object.assign(new Error(), { code: 'EBADF' });
  const relative = text(pathPtr, pathLen);
  const full = path.resolve(dir.dir, relative);
  if (full !== dir.dir && !full.startsWith(dir.dir + path.sep)) {
    throw Object.assign(new Error(), { code: 'EACCES' });  // no escaping the preopen
  }
  return full;
}

function iovecs(iovsPtr, count) {
  const v = view();
  const list = [];
  for (let i = 0; i < count; i++) {
    list.push(bytes(v.getUint32(iovsPtr + 8 * i, true), v.getUint32(iovsPtr + 8 * i + 4, true)));
  }
  return list;
}

const envStrings = Object.entries(env).map(([k, v]) => `${k}=${v}`);
const wasi = {
  args_sizes_get: (countPtr, sizePtr) => putSizes(args, countPtr, sizePtr),
  args_get: (pointersPtr, bufferPtr) => putStrings(args, pointersPtr, bufferPtr),
  environ_sizes_get: (countPtr, sizePtr) => putSizes(envStrings, countPtr, sizePtr),
  environ_get: (pointersPtr, bufferPtr) => putStrings(envStrings, pointersPtr, bufferPtr),
  clock_time_get: (id, _precision, timePtr) => {
    const now = id === 0 ? BigInt(Date.now()) * 1000000n : process.hrtime.bigint();
    view().setBigUint64(timePtr, now, true);
    return E.SUCCESS;
  },
  fd_write: (fd, iovsPtr, count, writtenPtr) => hostCall(() => {
    const file = fds.get(fd);
    if (!file || file.host === undefined) return E.BADF;
    let written = 0;
    for (const chunk of iovecs(iovsPtr, count)) {
      written += fs.writeSync(file.host, chunk, 0, chunk.length, file.position ?? null);
      if (file.position !== undefined) file.position = file.append ? fs.fstatSync(file.host).size : file.position + chunk.length;
    }
    view().setUint32(writtenPtr, written, true);
  }),
  fd_read: (fd, iovsPtr, count, readPtr) => hostCall(() => {
    const file = fds.get(fd);
    if (!file || file.host === undefined) return E.BADF;
    let read = 0;
    for (const chunk of iovecs(iovsPtr, count)) {
      const n = fd === 0 ? 0 : fs.readSync(file.host, chunk, 0, chunk.length, file.position);
      file.position += n;
      read += n;
      if (n < chunk.length) break;
    }
    view().setUint32(readPtr, read, true);
  }),
  fd_seek: (fd, offset, whence, resultPtr) => hostCall(() => {
    const file = fds.get(fd);
    if (!file) return E.BADF;
    if (file.position === undefined) return E.SPIPE;
    const base = [0, file.position, fs.fstatSync(file.host).size][whence];
    if (base === undefined) return E.INVAL;
    file.position = base + Number(offset);
    view().setBigUint64(resultPtr, BigInt(file.position), true);
  }),
  fd_close: (fd) => hostCall(() => {
    const file = fds.get(fd);
    if (!file) return E.BADF;
    if (fd > 2 && file.host !== undefined) fs.closeSync(file.host);
    fds.delete(fd);
  }),
  fd_fdstat_get: (fd, statPtr) => {
    const file = fds.get(fd);
    if (!file) return E.BADF;
    const v = view();
    v.setUint8(statPtr, file.type);
    v.setUint16(statPtr + 2, file.append ? 1 : 0, true);
    v.setBigUint64(statPtr + 8, 0xffffffffffffffffn, true);
    v.setBigUint64(statPtr + 16, 0xffffffffffffffffn, true);
    return E.SUCCESS;
  },
  fd_fdstat_set_flags: () => E.SUCCESS,
  fd_prestat_get: (fd, bufPtr) => {
    const file = fds.get(fd);
    if (!file || file.name === undefined) return E.BADF;
    view().setUint8(bufPtr, 0);
    view().setUint32(bufPtr + 4, Buffer.byteLength(file.name), true);
    return E.SUCCESS;
  },
  fd_prestat_dir_name: (fd, pathPtr, len) => {
    const file = fds.get(fd);
    if (!file || file.name === undefined) return E.BADF;
    bytes(pathPtr, len).set(Buffer.from(file.name).subarray(0, len));
    return E.SUCCESS;
  },
  path_open: (dirFd, _lookup, pathPtr, pathLen, oflags, rights, _inheriting, fdflags, fdPtr) =>
    hostCall(() => {
      const full = resolve(dirFd, pathPtr, pathLen);
      const exists = fs.existsSync(full);
      if (oflags & 2 || (exists && fs.statSync(full).isDirectory())) {  // O_DIRECTORY
        if (!exists) return E.NOENT;
        if (!fs.statSync(full).isDirectory()) return E.NOTDIR;
        fds.set(nextFd, { type: FILETYPE.DIRECTORY, dir: full });
      } else {
        const write = (rights & 64n) !== 0n;  // FD_WRITE
        const read = (rights & 2n) !== 0n;    // FD_READ
        let flags = write ? (read ? fs.constants.O_RDWR : fs.constants.O_WRONLY) : fs.constants.O_RDONLY;
        if (oflags & 1) flags |= fs.constants.O_CREAT;
        if (oflags & 4) flags |= fs.constants.O_EXCL;
        if (oflags & 8) flags |= fs.constants.O_TRUNC;
        const append = (fdflags & 1) !== 0;
        const host = fs.openSync(full, flags);
        fds.set(nextFd, { type: FILETYPE.REGULAR_FILE, host, position: append ? fs.fstatSync(host).size : 0, append });
      }
      view().setUint32(fdPtr, nextFd++, true);
    }),
  path_filestat_get: (dirFd, _flags, pathPtr, pathLen, statPtr) => hostCall(() => {
    const stat = fs.statSync(resolve(dirFd, pathPtr, pathLen), { bigint: true });
    const v = view();
    for (let i = 0; i < 64; i += 8) v.setBigUint64(statPtr + i, 0n, true);
    v.setBigUint64(statPtr, stat.dev, true);
    v.setBigUint64(statPtr + 8, stat.ino, true);
    v.setUint8(statPtr + 16, stat.isDirectory() ? FILETYPE.DIRECTORY : FILETYPE.REGULAR_FILE);
    v.setBigUint64(statPtr + 24, stat.nlink, true);
    v.setBigUint64(statPtr + 32, stat.size, true);
    v.setBigUint64(statPtr + 40, stat.atimeNs, true);
    v.setBigUint64(statPtr + 48, stat.mtimeNs, true);
    v.setBigUint64(statPtr + 56, stat.ctimeNs, true);
  }),
  path_create_directory: (dirFd, pathPtr, pathLen) =>
    hostCall(() => { fs.mkdirSync(resolve(dirFd, pathPtr, pathLen)); }),
  path_remove_directory: (dirFd, pathPtr, pathLen) =>
    hostCall(() => { fs.rmdirSync(resolve(dirFd, pathPtr, pathLen)); }),
  path_unlink_file: (dirFd, pathPtr, pathLen) =>
    hostCall(() => { fs.unlinkSync(resolve(dirFd, pathPtr, pathLen)); }),
  random_get: (bufPtr, len) => {
    for (let i = 0; i < len; i++) bytes(bufPtr + i, 1)[0] = Math.floor(Math.random() * 256);
    return E.SUCCESS;
  },
  sched_yield: () => E.SUCCESS,
  proc_exit: (code) => { throw new Exit(code); },
};

const module = new WebAssembly.Module(fs.readFileSync(program));
const imports = {};
for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
  if (kind !== 'function') continue;
  imports[from] ??= {};
  // Anything this host does not implement answers ENOSYS.
  imports[from][name] = from === 'wasi_snapshot_preview1' && wasi[name] ? wasi[name] : () => E.NOSYS;
}
const instance = new WebAssembly.Instance(module, imports);
memory = instance.exports.memory;
let code = 0;
try {
  instance.exports._start();
} catch (error) {
  if (error instanceof Exit) {
    code = error.code;
  } else {
    process.stderr.write(`wasi_runner: ${path.basename(program)} trapped: ${error.message}\n`);
    code = 134;
  }
}
process.exitCode = code;

// Tests of the freestanding module (//wasm:freebump.wasm) from JavaScript, as a host uses it.
// Run by //wasm:module_test: node module_test.mjs freebump.wasm freebump_imported_memory.wasm
// Prints "N passed, N failed" and exits non-zero on a failure.
import fs from 'node:fs';
import assert from 'node:assert/strict';

const [exportedPath, importedPath] = process.argv.slice(2);
const PAGE = 65536;
const exportedModule = new WebAssembly.Module(fs.readFileSync(exportedPath));
const importedModule = new WebAssembly.Module(fs.readFileSync(importedPath));

function fresh() {
  const { exports } = new WebAssembly.Instance(exportedModule, {});
  return exports;
}
function withMemory(initial, maximum) {
  const memory = new WebAssembly.Memory({ initial, maximum });
  const { exports } = new WebAssembly.Instance(importedModule, { env: { memory } });
  return { ...exports, memory };
}
const u8 = (m, p, n) => new Uint8Array(m.memory.buffer, p, n);
const fill = (m, p, n, seed) => { const b = u8(m, p, n); for (let i = 0; i < n; i++) b[i] = (seed + i * 31) & 255; };
const intact = (m, p, n, seed) => { const b = u8(m, p, n); for (let i = 0; i < n; i++) if (b[i] !== ((seed + i * 31) & 255)) return false; return true; };

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test('exports the malloc family', () => {
  const m = fresh();
  for (const name of ['malloc', 'free', 'calloc', 'realloc', 'reallocarray', 'aligned_alloc',
    'posix_memalign', 'memalign', 'valloc', 'pvalloc', 'malloc_usable_size', 'free_sized', 'memory']) {
    assert.ok(name in m, name);
  }
});

test('the heap starts at __heap_base', () => {
  const m = fresh();
  const base = m.__heap_base.value;
  const p = m.malloc(1);
  assert.equal(p, ((base + 15) & ~15) + 16);
});

test('grows across many pages and keeps every block intact', () => {
  const m = fresh();
  const startPages = m.memory.buffer.byteLength / PAGE;
  const blocks = [];
  for (let i = 0; i < 300; i++) {
    const size = 1000 + ((i * 7919) % 30000);
    const p = m.malloc(size);
    assert.notEqual(p, 0, `block ${i}`);
    assert.equal(p % 16, 0);
    fill(m, p, size, i);
    blocks.push([p, size, i]);
  }
  const pages = m.memory.buffer.byteLength / PAGE;
  assert.ok(pages > startPages + 50, `grew to ${pages} pages`);
  for (const [p, size, seed] of blocks) assert.ok(intact(m, p, size, seed), `block at ${p}`);
  for (const [p] of blocks) m.free(p);
  // Freed blocks serve again without growing.
  for (const [, size] of blocks) assert.notEqual(m.malloc(size), 0);
  assert.equal(m.memory.buffer.byteLength / PAGE, pages);
});

test('out of memory with a maximum: NULL, memory unchanged, heap still usable', () => {
  const m = withMemory(2, 8);  // 128 KiB now, 512 KiB at most
  const small = m.malloc(100);
  assert.notEqual(small, 0);
  assert.equal(m.malloc(1 << 20), 0);  // needs more than the maximum
  assert.equal(m.memory.buffer.byteLength, 2 * PAGE, 'a failed request must not grow memory');
  const big = m.malloc(200000);
  assert.notEqual(big, 0);
  let count = 0;
  while (m.malloc(40000) !== 0) count++;
  assert.ok(count >= 2 && m.memory.buffer.byteLength === 8 * PAGE);
  assert.notEqual(m.malloc(8), 0, 'small blocks still come from what is left');
  m.free(big);
  assert.equal(m.malloc(200000), big, 'and freed blocks come back');
  assert.equal(m.calloc(0x10000, 0x10000), 0, 'calloc overflow');
  assert.equal(m.malloc(0xffffffff), 0);
});

test('up to the 4 GiB edge without wrapping', () => {
  const m = fresh();
  const GiB = 1 << 30;
  const blocks = [];
  for (let p; (p = m.malloc(GiB)) !== 0;) blocks.push(p >>> 0);
  // 1 GiB blocks are 1 GiB + 16 bytes: three fit below 4 GiB, a fourth does not.
  assert.equal(blocks.length, 3);
  const pages = m.memory.buffer.byteLength / PAGE;
  assert.ok(pages <= 65536);
  for (const p of blocks) assert.ok(p + GiB <= 2 ** 32);
  assert.equal(m.malloc(GiB), 0);
  assert.equal(m.memory.buffer.byteLength / PAGE, pages, 'the failed request did not grow memory');
  assert.notEqual(m.malloc(100), 0);
  m.free(blocks[1]);
  assert.equal(m.malloc(GiB) >>> 0, blocks[1]);
});

test('memory grown by someone else in between', () => {
  const m = fresh();
  const a = m.malloc(40000);
  fill(m, a, 40000, 1);
  const before = m.memory.buffer.byteLength / PAGE;
  m.memory.grow(3);  // the host takes three pages
  const foreign = before * PAGE;
  u8(m, foreign, 3 * PAGE).fill(0xEE);
  const blocks = [];
  for (let i = 0; i < 20; i++) {
    const p = m.malloc(30000);
    assert.notEqual(p, 0);
    assert.ok(p + 30000 <= foreign || p >= foreign + 3 * PAGE, `block ${p} inside the host's pages`);
    fill(m, p, 30000, i + 2);
    blocks.push(p);
  }
  assert.ok(u8(m, foreign, 3 * PAGE).every((b) => b === 0xEE), "the host's pages are untouched");
  assert.ok(intact(m, a, 40000, 1));
  blocks.forEach((p, i) => assert.ok(intact(m, p, 30000, i + 2)));
});

test('calloc zeroes, also a reused dirty block', () => {
  const m = fresh();
  const p = m.malloc(5000);
  u8(m, p, 5000).fill(0xFF);
  m.free(p);
  const q = m.calloc(50, 100);
  assert.equal(q, p);
  assert.ok(u8(m, q, 5000).every((b) => b === 0));
  const r = m.calloc(1000, 1000);  // fresh memory
  assert.ok(u8(m, r, 1000000).every((b) => b === 0));
});

test('realloc preserves data when growing, moving and shrinking', () => {
  const m = fresh();
  let p = m.malloc(100);
  fill(m, p, 100, 9);
  const blocker = m.malloc(10);
  for (const size of [200, 5000, 70000, 300000]) {
    p = m.realloc(p, size);
    assert.notEqual(p, 0);
    assert.ok(intact(m, p, 100, 9), `after realloc to ${size}`);
  }
  p = m.realloc(p, 50);
  assert.ok(intact(m, p, 50, 9));
  assert.equal(m.realloc(p, 0x80000000), 0, 'above PTRDIFF_MAX: NULL, block kept');
  assert.ok(intact(m, p, 50, 9));
  m.free(blocker);
});

test('alignment: 16 for malloc, any power of two for aligned_alloc and posix_memalign', () => {
  const m = fresh();
  for (let size = 0; size < 200; size += 7) assert.equal(m.malloc(size) % 16, 0);
  for (let align = 1; align <= 65536; align *= 2) {
    const p = m.aligned_alloc(align, 24);
    assert.notEqual(p, 0);
    assert.equal(p % align, 0, `aligned_alloc(${align})`);
    assert.ok(m.malloc_usable_size(p) >= 24);
    m.free(p);
  }
  const out = m.malloc(4);
  for (let align = 4; align <= 4096; align *= 2) {
    assert.equal(m.posix_memalign(out, align, 100), 0);
    const p = new DataView(m.memory.buffer).getUint32(out, true);
    assert.equal(p % align, 0);
    m.free(p);
  }
  assert.equal(m.posix_memalign(out, 24, 8), 28, 'EINVAL (WASI numbering)');
  assert.equal(m.aligned_alloc(24, 8), 0);
  assert.equal(m.valloc(1) % PAGE, 0);
});

test('misuse traps: double free and invalid pointers', () => {
  const m = fresh();
  const p = m.malloc(24);
  m.free(p);
  assert.throws(() => m.free(p), WebAssembly.RuntimeError);
  const n = fresh();
  assert.throws(() => n.free(n.__heap_base.value + 4096), WebAssembly.RuntimeError);
  const q = n.malloc(100);
  assert.throws(() => n.free(q + 16), WebAssembly.RuntimeError);
});

let passed = 0;
let failed = 0;
const results = [];
for (const [name, fn] of tests) {
  try {
    fn();
    results.push([name, null]);
    passed++;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed++;
    results.push([name, error]);
    console.log(`not ok - ${name}\n  ${String(error.stack).split('\n').join('\n  ')}`);
  }
}
// A JUnit-style report for ./bazelw's per-case count.
if (process.env.XML_OUTPUT_FILE) {
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  fs.writeFileSync(process.env.XML_OUTPUT_FILE, `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites tests="${tests.length}" failures="${failed}">\n<testsuite name="module_test" tests="${tests.length}" failures="${failed}">\n` +
    results.map(([name, error]) => `  <testcase name="${esc(name)}" classname="module_test">` +
      (error ? `<failure message="${esc(String(error.message))}"></failure>` : '') + `</testcase>\n`).join('') +
    `</testsuite>\n</testsuites>\n`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;

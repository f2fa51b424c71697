#!/usr/bin/env node
// Fails when a module imports a module that (directly or through others) imports it back.
//
// Rust: for every directory of every crate, the modules in it (files and sub-directories, each taken
// as a whole) must import each other without a circle. A module using its parent (`super::X`, or
// `crate::x::Y` from inside x) is namespace use, not layering, and is not counted; test modules
// (`tests.rs`, `*_tests.rs`, anything after `#[cfg(test)]`) are left out.
// TypeScript: the files under src/ must import each other without a circle (type-only imports
// count too: they are still a dependency of the design).
//
// Usage: node scripts/check-layers.mjs [--graph]
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const showGraph = process.argv.includes('--graph');
let failures = 0;

function walk(dir, ext, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, ext, out);
    else if (ext.some((e) => entry.name.endsWith(e))) out.push(full);
  }
  return out;
}

/** Strongly connected components with more than one member (Tarjan). */
function circles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), idx.get(w)));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const members = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        members.push(w);
      } while (w !== v);
      if (members.length > 1) found.push(members.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

// ---- Rust ----

/** Module path (array of names) of a source file relative to the crate's src/. */
function rustModule(rel) {
  const parts = rel.replace(/\.rs$/, '').split(path.sep);
  const last = parts[parts.length - 1];
  if (last === 'mod' || (parts.length === 1 && last === 'lib')) parts.pop();
  return parts;
}

/** Paths (arrays) this source refers to with crate::, super:: and self:: paths, braces expanded. */
function rustReferences(src, self) {
  const refs = [];
  const expand = (prefix, body) => {
    let depth = 0;
    let item = '';
    const items = [];
    for (const ch of body) {
      if (ch === '{') depth += 1;
      if (ch === '}') depth -= 1;
      if (ch === ',' && depth === 0) {
        items.push(item);
        item = '';
      } else item += ch;
    }
    items.push(item);
    for (const raw of items) {
      const it = raw.trim();
      if (it === '' || it === 'self') continue;
      const brace = it.indexOf('{');
      if (brace >= 0) {
        const head = it.slice(0, brace).replace(/::$/, '').split('::').filter(Boolean);
        expand([...prefix, ...head], it.slice(brace + 1, it.lastIndexOf('}')));
      } else refs.push([...prefix, ...it.split(/\s+as\s+/)[0].split('::')]);
    }
  };
  const re = /\b(crate|super|self)((?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))*)::(\{|[A-Za-z_][A-Za-z0-9_]*)/g;
  for (let m; (m = re.exec(src)); ) {
    let base;
    if (m[1] === 'crate') base = [];
    else if (m[1] === 'super') base = self.slice(0, -1);
    else base = [...self];
    const middle = m[2].split('::').filter(Boolean);
    for (const seg of middle) {
      if (seg === 'super') base = base.slice(0, -1);
      else base = [...base, seg];
    }
    if (m[3] === '{') {
      // Find the matching brace.
      let depth = 1;
      let i = re.lastIndex;
      for (; i < src.length && depth > 0; i += 1) {
        if (src[i] === '{') depth += 1;
        if (src[i] === '}') depth -= 1;
      }
      expand(base, src.slice(re.lastIndex, i - 1));
      re.lastIndex = i;
    } else refs.push([...base, m[3]]);
  }
  return refs;
}

function checkCrate(crateDir) {
  const src = path.join(crateDir, 'src');
  const files = walk(src, ['.rs']).filter((f) => !/(^|_)tests\.rs$/.test(path.basename(f)));
  const modules = new Map(); // key "a::b" -> refs
  for (const file of files) {
    const self = rustModule(path.relative(src, file));
    let text = fs.readFileSync(file, 'utf8');
    const cut = text.search(/#\[cfg\(test\)\]\s*(pub(\([a-z]+\))?\s+)?mod\b/);
    if (cut >= 0) text = text.slice(0, cut);
    text = text.replace(/\/\/.*$/gm, '');
    modules.set(self.join('::'), { self, refs: rustReferences(text, self) });
  }
  const known = new Set(modules.keys());
  // Resolve a reference to the deepest known module it names.
  const resolve = (ref) => {
    for (let n = ref.length; n > 0; n -= 1) {
      const key = ref.slice(0, n).join('::');
      if (known.has(key)) return ref.slice(0, n);
    }
    return null;
  };
  // One sibling graph per parent module.
  const graphs = new Map();
  for (const { self, refs } of modules.values()) {
    for (const ref of refs) {
      const target = resolve(ref);
      if (target === null) continue;
      // Common ancestor, then the children of it on each side.
      let i = 0;
      while (i < self.length && i < target.length && self[i] === target[i]) i += 1;
      if (i === self.length || i === target.length) continue; // same module, parent or child
      const parent = self.slice(0, i).join('::');
      const from = self[i];
      const to = target[i];
      if (!graphs.has(parent)) graphs.set(parent, new Map());
      const g = graphs.get(parent);
      if (!g.has(from)) g.set(from, new Set());
      if (!g.has(to)) g.set(to, new Set());
      g.get(from).add(to);
    }
  }
  const name = path.basename(crateDir);
  for (const [parent, g] of [...graphs].sort()) {
    if (showGraph) {
      for (const [from, tos] of [...g].sort()) console.log(`${name}:${parent || 'crate'} ${from} -> ${[...tos].sort().join(' ')}`);
    }
    for (const c of circles(g)) {
      failures += 1;
      console.error(`circle in ${name} (${parent === '' ? 'crate root' : parent}): ${c.join(' <-> ')}`);
    }
  }
  return modules.size;
}

// ---- TypeScript ----

function checkTs() {
  const srcDir = path.join(root, 'src');
  const files = walk(srcDir, ['.ts']).filter((f) => !f.endsWith('.d.ts'));
  const graph = new Map();
  for (const file of files) {
    const from = path.relative(root, file);
    const text = fs.readFileSync(file, 'utf8');
    const deps = new Set();
    const re = /(?:import|export)\s[^'";]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
    for (let m; (m = re.exec(text)); ) {
      const spec = m[1] ?? m[2];
      let target = path.resolve(path.dirname(file), spec).replace(/\.(js|mjs|cjs)$/, '');
      if (fs.existsSync(`${target}.ts`)) target = `${target}.ts`;
      else if (fs.existsSync(path.join(target, 'index.ts'))) target = path.join(target, 'index.ts');
      else continue;
      deps.add(path.relative(root, target));
    }
    graph.set(from, deps);
  }
  if (showGraph) for (const [f, d] of [...graph].sort()) console.log(`ts ${f} -> ${[...d].sort().join(' ')}`);
  for (const c of circles(graph)) {
    failures += 1;
    console.error(`circle in TypeScript: ${c.join(' <-> ')}`);
  }
  return graph.size;
}

const crates = fs.readdirSync(path.join(root, 'crates')).map((c) => path.join(root, 'crates', c));
let rustModules = 0;
for (const c of crates) if (fs.existsSync(path.join(c, 'src'))) rustModules += checkCrate(c);
const tsFiles = checkTs();
if (failures > 0) {
  console.error(`check-layers: ${failures} circle(s)`);
  process.exit(1);
}
console.log(`check-layers: no circles (${rustModules} Rust modules in ${crates.length} crates, ${tsFiles} TypeScript files)`);

#!/usr/bin/env node
// Runs before `npm test` and `npm run up` so that a fresh clone works without a prior install.
// It installs when node_modules is missing or when package-lock.json has changed since the last
// install (a sha256 of the lock file is kept in node_modules/.install-stamp); otherwise it
// returns at once without a word. Plain CommonJS with no dependencies: nothing is installed yet.
'use strict';

const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const lockFile = path.join(root, 'package-lock.json');
const modulesDir = path.join(root, 'node_modules');
const stampFile = path.join(modulesDir, '.install-stamp');
// npm's own record of the tree it last installed.
const installedLockFile = path.join(modulesDir, '.package-lock.json');

function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// Without a lock file, package.json is what the install answered to.
function manifestHash() {
  return fs.existsSync(lockFile) ? sha256(lockFile) : sha256(path.join(root, 'package.json'));
}

function readStamp() {
  try {
    return fs.readFileSync(stampFile, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function writeStamp() {
  // Hashed after any install: `npm install` may have just written the lock file.
  fs.writeFileSync(stampFile, `${manifestHash()}\n`);
}

function readPackages(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8')).packages || {};
}

// A tree that npm installed from this very lock file (a developer's own `npm install`) is adopted
// instead of being wiped by `npm ci`: npm's record of it then lists the lock's packages at the
// same versions, less optional ones it skipped (other platforms' binaries).
function installedTreeMatchesLock() {
  try {
    const wanted = readPackages(lockFile);
    const installed = readPackages(installedLockFile);
    const missingOrDifferent = Object.entries(wanted).some(([name, entry]) => {
      if (name === '') return false;
      const found = installed[name];
      return found ? found.version !== entry.version : !entry.optional;
    });
    return !missingOrDifferent && Object.keys(installed).every((name) => name in wanted);
  } catch {
    return false;
  }
}

function install(reason) {
  const command = fs.existsSync(lockFile) ? 'ci' : 'install';
  const args = [command, '--no-audit', '--no-fund', '--include=dev'];
  console.error(`[deps] ${reason}: npm ${args.join(' ')}`);
  const result = spawnSync('npm', args, {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error(`[deps] npm ${command} failed with exit code ${result.status}`);
    process.exit(result.status || 1);
  }
}

function main() {
  if (!fs.existsSync(modulesDir)) {
    install('node_modules is missing');
  } else if (readStamp() === manifestHash()) {
    return;
  } else if (!fs.existsSync(lockFile) || !installedTreeMatchesLock()) {
    install('the dependencies changed since the last install');
  }
  writeStamp();
}

main();

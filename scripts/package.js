#!/usr/bin/env node
// `npm run package`: every tarball a user's `npm install kafka-emulator` pulls, written to dist/:
// the main package (JS, types, loader; no binary, no runtime dependencies) and one
// `kafka-emulator-<platform>` package per addon built here (napi-rs' npm/<platform> layout).
//
//   npm run package                       build this machine's addon, then pack
//   npm run package -- --skip-build       pack the addons already built (kafka-emulator.*.node)
//
// The main package lists every platform package as an optional dependency, as `napi
// pre-publish` writes it at release, so npm fetches only the one whose os/cpu/libc fit.
'use strict'

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const dist = path.join(root, 'dist')
const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const binaryName = pkg.napi.binaryName

function npm(args, cwd) {
  return execFileSync(npmCmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
}

function pack(dir) {
  const [{ filename }] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dist], dir))
  return path.join(dist, filename)
}

if (!process.argv.includes('--skip-build')) {
  execFileSync(npmCmd, ['run', 'build'], { cwd: root, stdio: 'inherit' })
}

fs.rmSync(dist, { recursive: true, force: true })
fs.mkdirSync(dist)
const written = []

// Platform packages: each built addon moves into its npm/<platform> package.
const addon = new RegExp(`^${binaryName}\\.(.+)\\.node$`)
const platforms = fs.readdirSync(path.join(root, 'npm'))
for (const file of fs.readdirSync(root)) {
  const match = addon.exec(file)
  if (!match) continue
  const platform = match[1]
  if (!platforms.includes(platform)) throw new Error(`${file}: no npm/${platform} package for it`)
  fs.copyFileSync(path.join(root, file), path.join(root, 'npm', platform, file))
  written.push(pack(path.join(root, 'npm', platform)))
}
if (written.length === 0) throw new Error(`no ${binaryName}.<platform>.node here to pack: run npm run build`)

// Main package: the files package.json's `files` names, with a manifest fit for users (no
// scripts that build, no devDependencies, the platform packages as optional dependencies).
const stage = fs.mkdtempSync(path.join(dist, '.stage-'))
const [{ files }] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], root))
for (const { path: file } of files) {
  if (file === 'package.json') continue
  fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true })
  fs.copyFileSync(path.join(root, file), path.join(stage, file))
}
const manifest = { ...pkg }
delete manifest.scripts
delete manifest.devDependencies
manifest.optionalDependencies = Object.fromEntries(
  platforms.map((platform) => [`${pkg.name}-${platform}`, pkg.version]),
)
fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
written.unshift(pack(stage))
fs.rmSync(stage, { recursive: true, force: true })

for (const file of written) console.log(path.relative(root, file))

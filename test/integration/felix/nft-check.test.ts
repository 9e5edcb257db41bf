import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { calculatePolicy } from '../../../felix/src/calc/calculate-policy.js';
import { SCENARIOS } from '../../../felix/src/calc/scenarios.test-helpers.js';
import { caseSnapshots, loadNetpolCases } from '../../../felix/src/conformance/netpol-cases.js';
import { formatNftJson, type NftJson } from '../../../felix/src/render/nft-json.js';
import { renderFullReplace } from '../../../felix/src/render/ruleset.js';

// Every ruleset the renderer produces must be accepted by the real nft and
// kernel. `nft -c` checks the transaction without applying it, so this test
// changes nothing on the machine; it needs CAP_NET_ADMIN to talk to nftables.
const isRoot = process.getuid?.() === 0;
const FIXTURES = fileURLToPath(new URL('../../../felix/src/render/fixtures/nft/', import.meta.url));

// Through a file, not stdin: Node gives a child a socketpair as stdin, and nft
// opens "/dev/stdin" by path, which fails on a socket (ENXIO). The agent's
// runner must do the same (or pipe through a real pipe).
const workDir = mkdtempSync(join(tmpdir(), 'tortie-nft-check-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));
let fileCount = 0;

async function nftCheck(text: string): Promise<void> {
  const path = join(workDir, `ruleset-${fileCount++}.json`);
  writeFileSync(path, text);
  const r = await execa('nft', ['-c', '-j', '-f', path], { reject: false });
  rmSync(path);
  if (r.exitCode !== 0) throw new Error(`nft -c refused the ruleset: ${r.stderr}`);
}

describe.skipIf(!isRoot)('nft accepts every generated ruleset (nft -c -j -f)', () => {
  const goldens = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();

  it('finds the golden rulesets', () => {
    expect(goldens.length).toBeGreaterThanOrEqual(5);
  });

  it.each(goldens)('golden %s', async (file) => {
    await nftCheck(readFileSync(`${FIXTURES}${file}`, 'utf8'));
  });

  it.each(Object.keys(SCENARIOS))('scenario %s as rendered now', async (name) => {
    await nftCheck(formatNftJson(renderFullReplace(calculatePolicy(SCENARIOS[name]!))));
  });

  const file = loadNetpolCases();
  it('finds the netpol cases', () => {
    expect(file.cases.length).toBeGreaterThan(40);
  });

  it.each(file.cases.map((c) => [c.name, c] as const))('netpol case %s, every step', async (_name, c) => {
    let steps = 0;
    for (const { snapshot } of caseSnapshots(file, c)) {
      const json: NftJson = renderFullReplace(calculatePolicy(snapshot));
      await nftCheck(JSON.stringify(json));
      steps++;
    }
    expect(steps).toBeGreaterThan(0);
  });

  it('applies twice in a row in a private network namespace (the delete-then-add replace works with and without the table)', async () => {
    const text = formatNftJson(renderFullReplace(calculatePolicy(SCENARIOS['mixed']!)));
    // `unshare -n` gives nft a network namespace of its own that vanishes with the process: nothing to clean up.
    const r = await execa('unshare', ['-n', 'sh', '-c', 'nft -j -f - <<EOF\n' + text + 'EOF\nnft -j -f - <<EOF\n' + text + 'EOF\nnft -j list table inet tortie'], {
      reject: false,
    });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const listed = JSON.parse(r.stdout) as { nftables: Record<string, { name?: string }>[] };
    const chains = listed.nftables.filter((o) => 'chain' in o).map((o) => o['chain']!.name);
    expect(chains).toContain('tw-torweb1');
    expect(chains).toContain('pi-np/prod/web');
  });
});

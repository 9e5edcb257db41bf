import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCniRequest } from './request.js';

// The example conflists of the README are real: each tortie plugin object in
// them parses as the runtime would hand it to us, and the README shows the
// main example verbatim.
const dir = new URL('../examples/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.conflist'));

const env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c0ffee',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0',
};

describe('cni/examples', () => {
  it('has example files', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });
  it.each(files)('%s: the tortie plugin config parses as the runtime passes it', (file) => {
    const list = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    const plugin = list.plugins.find((p) => p.type === 'tortie');
    expect(plugin).toBeDefined();
    // CNI spec §3: the runtime inserts name and cniVersion into each plugin object.
    const request = parseCniRequest(env, JSON.stringify({ ...plugin, cniVersion: list.cniVersion, name: list.name }));
    expect(request.config.name).toBe('k8s-pod-network');
  });
  it('the README shows examples/10-tortie.conflist as it is', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(readFileSync(new URL('10-tortie.conflist', dir), 'utf8').trim());
  });
});

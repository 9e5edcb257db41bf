import { Command, InvalidArgumentError, Option } from 'commander';
import { runDelete } from './commands/delete.js';
import { runEtcdStart, runEtcdStatus, runEtcdStop } from './commands/etcd.js';
import { runGet } from './commands/get.js';
import { NodeStatusOutputs, runNodeStatus, type NodeStatusOutput } from './commands/node-status.js';
import { ExplainOutputs, runPolicyExplain, type ExplainOutput } from './commands/policy-explain.js';
import { StatsOutputs, runPolicyStats, type StatsOutput } from './commands/policy-stats.js';
import { clientVersion, runVersion } from './commands/version.js';
import { runWrite } from './commands/write.js';
import type { CommandContext } from './context.js';
import { DEFAULT_TIMEOUT_MS } from './datastore.js';
import { ExitCode } from './exit-codes.js';
import { OutputFormats, type OutputFormat } from './output.js';

/**
 * The command tree of `tortie`: every command, argument and flag, and which
 * function in commands/ each one runs. Parsing only: `run` (from main.ts)
 * builds the context and runs the work.
 */
export interface GlobalOptions {
  config?: string;
  timeout: number;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('give a positive number of seconds, such as 10.');
  return seconds;
}

const HELP_FOOTER = `
Environment (as calicoctl):
  DATASTORE_TYPE        etcdv3 (default) or kubernetes
  ETCD_ENDPOINTS        comma-separated etcd URLs (default http://127.0.0.1:2379)
  ETCD_CA_CERT_FILE     CA of etcd's server certificate (https:// endpoints)
  ETCD_CERT_FILE, ETCD_KEY_FILE  client certificate and key, when etcd asks for one
  KUBECONFIG            kubeconfig for DATASTORE_TYPE=kubernetes
  TORTIE_ETCD_DATA_DIR  data of 'tortie etcd start' (default /var/lib/tortie/etcd)

Exit codes: 0 ok, 1 invalid input, 2 usage, 3 not found/already exists/conflict,
4 datastore unavailable. See cli/README.md.
`;

/** Builds the command tree; `run` receives each command's work and runs it with a context. */
export function buildProgram(run: (work: (ctx: CommandContext) => Promise<ExitCode>) => Promise<void>): Command {
  const program = new Command('tortie')
    .description('Calico-style networking for Kubernetes: manage tortie resources')
    .version(clientVersion(), '--version', 'print the client version and exit')
    .option('--config <file>', 'calicoctl-style config file (kind CalicoAPIConfig) instead of the environment')
    .option('--timeout <seconds>', 'give up on a datastore request after this long', parseSeconds, DEFAULT_TIMEOUT_MS / 1000)
    .addHelpText('after', HELP_FOOTER)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  const fileOptions = (command: Command): Command =>
    command
      .option('-f, --filename <path>', 'file, directory (its *.yaml, *.yml, *.json) or - for stdin; repeatable', collect, [])
      .option('-R, --recursive', 'also read subdirectories of a -f directory', false)
      .option('-n, --namespace <ns>', 'namespace of namespaced objects that name none (default "default")');

  interface FileFlags {
    filename: string[];
    recursive: boolean;
    namespace?: string;
  }
  const fileFlags = (flags: FileFlags) => ({ filename: flags.filename, recursive: flags.recursive, namespace: flags.namespace });

  const writeCommand = (mode: 'apply' | 'create' | 'replace', description: string) =>
    fileOptions(program.command(mode).description(description)).action((flags: FileFlags) =>
      run((ctx) => runWrite(ctx, mode, fileFlags(flags))),
    );
  writeCommand('apply', 'create or update resources from files (prints created, configured or unchanged)');
  writeCommand('create', 'create resources from files; fails for any that exist');
  writeCommand('replace', 'replace existing resources from files; fails for any that are missing');

  fileOptions(program.command('delete').description('delete resources named in files, or KIND NAME...'))
    .argument('[kind]', 'kind, plural or short name (ippools, bgppeer, gnp, ...)')
    .argument('[names...]', 'names of the objects to delete')
    .option('--ignore-not-found', 'a missing object is not an error', false)
    .action((kind: string | undefined, names: string[], flags: FileFlags & { ignoreNotFound: boolean }) =>
      run((ctx) => runDelete(ctx, { kind, names }, { ...fileFlags(flags), ignoreNotFound: flags.ignoreNotFound })),
    );

  program
    .command('get')
    .description('show resources of one kind, or some by name')
    .argument('<kind>', 'kind, plural, singular or short name (ippools, IPPool, bgppeers, gnp, ...), or KIND/NAME')
    .argument('[names...]', 'names; all of the kind when none')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OutputFormats).default('table'))
    .option('-n, --namespace <ns>', 'namespace for namespaced kinds (default "default")')
    .option('-A, --all-namespaces', 'list namespaced kinds across all namespaces', false)
    .option('-l, --selector <labels>', 'only objects whose labels match (app=web,tier in (a,b))')
    .action(
      (kind: string, names: string[], flags: { output: OutputFormat; namespace?: string; allNamespaces: boolean; selector?: string }) =>
        run((ctx) =>
          runGet(ctx, kind, names, {
            output: flags.output,
            namespace: flags.namespace,
            allNamespaces: flags.allNamespaces,
            selector: flags.selector,
          }),
        ),
    );

  program
    .command('version')
    .description('client version, datastore type and whether the datastore answers (exit 4 if not)')
    .action(() => run((ctx) => runVersion(ctx)));

  program
    .command('kube-controllers')
    .description('run IPAM garbage collection and node cleanup until SIGTERM (the tortie-kube-controllers Deployment; see controllers/README.md)')
    .action(() =>
      run(async (ctx) => {
        const { runKubeControllers } = await import('../../controllers/src/main.js');
        return runKubeControllers({ datastore: await ctx.datastore(), env: process.env });
      }),
    );

  program
    .command('cni-agent')
    .description('serve the CNI plugin over a Unix socket with a warm datastore client until SIGTERM (the plugin\'s fast path; see cni/README.md)')
    .option('--socket <path>', 'Unix socket to listen on (default $TORTIE_CNI_SOCKET or /var/run/tortie/cni.sock)')
    .action((flags: { socket?: string }) =>
      run(async () => {
        const { runCniAgent } = await import('../../cni/src/agent/main.js');
        return runCniAgent({ ...(flags.socket === undefined ? {} : { socket: flags.socket }), env: process.env });
      }),
    );

  const cni = program.command('cni').description('the CNI plugin on this host');
  cni
    .command('install')
    .description('copy the CNI plugins into CNI_BIN_DIR and write the conflist (from CNI_NETWORK_CONFIG) and the plugin\'s kubeconfig into CNI_NET_DIR, as Calico\'s install-cni does (the tortie-node init container; see cni/README.md)')
    .action(() => run(async (ctx) => (await import('./commands/cni-install.js')).runCniInstall(ctx, process.env)));

  const policy = program.command('policy').description('what the network policies do: explain a connection, per-rule counters');
  policy
    .command('explain')
    .description('which policies select each end of a connection, which rule decides, and the verdict (exit 0 either way)')
    .requiredOption('--from <pod>', 'source: NAMESPACE/POD or an IP address')
    .requiredOption('--to <pod>', 'destination: NAMESPACE/POD or an IP address')
    .requiredOption('--port <port>', 'destination PORT or PORT/PROTOCOL (TCP, UDP, SCTP), such as 80/TCP')
    .addOption(new Option('-o, --output <format>', 'output format').choices(ExplainOutputs).default('text'))
    .action((flags: { from: string; to: string; port: string; output: ExplainOutput }) => run((ctx) => runPolicyExplain(ctx, flags)));
  policy
    .command('stats')
    .description("packet and byte counters of every policy rule in this node's nftables table (needs root)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(StatsOutputs).default('table'))
    .option('--netns <name>', 'read the table in this network namespace (ip netns) instead')
    .action((flags: { output: StatsOutput; netns?: string }) => run((ctx) => runPolicyStats(ctx, flags)));

  const node = program.command('node').description('this host\'s node agent');
  node
    .command('init')
    .description('register this host as a Node (name, addresses, AS) and create the default IPPools if there are none, as calico/node does at start; settings from NODENAME, IP, IP_AUTODETECTION_METHOD, AS, CALICO_IPV4POOL_* ... (cli/README.md)')
    .option('--nodename-file <path>', 'where the chosen node name is kept (default /var/lib/tortie/nodename)')
    .action((flags: { nodenameFile?: string }) =>
      run(async (ctx) => (await import('./node/init.js')).runNodeInit(ctx, process.env, flags.nodenameFile === undefined ? {} : { nodeNameFile: flags.nodenameFile })),
    );
  node
    .command('run')
    .description('the node agent (the DaemonSet\'s process): node init, then BGP routing and tunnels, and nftables policy, until SIGTERM; FELIX_HEALTHPORT serves /liveness and /readiness')
    .option('--nodename-file <path>', 'where the chosen node name is kept (default /var/lib/tortie/nodename)')
    .action((flags: { nodenameFile?: string }) =>
      run(async (ctx) => (await import('./node/run.js')).runNodeAgent(ctx, process.env, flags.nodenameFile === undefined ? {} : { nodeNameFile: flags.nodenameFile })),
    );
  node
    .command('status')
    .description('BGP sessions of this host\'s node agent, as calicoctl node status shows them (exit 4 if it is not running)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(NodeStatusOutputs).default('table'))
    .option('--status-file <path>', 'the speaker\'s status file (default $TORTIE_STATUS_FILE or /var/run/tortie/bgp-status.json)')
    .action((flags: { output: NodeStatusOutput; statusFile?: string }) => run((ctx) => runNodeStatus(ctx, flags)));

  const etcd = program.command('etcd').description('a local etcd to try tortie with (not for production)');
  etcd.command('start').description('start it (if not running) and wait until healthy').action(() => run(runEtcdStart));
  etcd.command('stop').description('stop it; the data stays').action(() => run(runEtcdStop));
  etcd.command('status').description('is it running and healthy (exit 4 if not)').action(() => run(runEtcdStatus));


  const lab = program.command('lab').description('a small cluster of network namespaces on this machine: ToR (BIRD), nodes, pods (needs root; see cli/README.md)');
  const nodesOption = () => new Option('--nodes <n>', 'number of nodes').argParser((v) => Number(v)).default(3);
  lab.command('up').description('build it (idempotent) and wait until BGP and routes converge').addOption(nodesOption()).action((f: { nodes: number }) => run(async (ctx) => (await import('./lab/lab.js')).labUp(ctx, f)));
  lab.command('down').description('stop every lab process and delete every lab namespace (idempotent)').action(() => run(async (ctx) => (await import('./lab/lab.js')).labDown(ctx)));
  lab.command('status').description('nodes, BGP sessions, pods (exit 4 if the lab is not up)').action(() => run(async (ctx) => (await import('./lab/lab.js')).labStatus(ctx)));
  lab.command('demo').description('lab up if needed, connectivity matrix, apply a policy, matrix again').addOption(nodesOption()).action((f: { nodes: number }) => run(async (ctx) => (await import('./lab/lab.js')).labDemo(ctx, f)));
  return program;
}


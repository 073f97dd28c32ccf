// The govfs command line: parses the command and hands it to its module, loaded only when
// that command runs (src/cli/): `govfs --help` loads nothing but this file, a client command
// the network client, only `govfs cluster` / `node` the cluster, lmdb and worker threads.
// bin/govfs runs this file bundled (scripts/build-cli.mjs).
//
// Exit codes: 0 success; 1 the operation failed (the message says why: no such file, cluster
// unreachable, ...); 2 usage error (unknown command or option, missing argument, no command);
// 141 (as for a process killed by SIGPIPE) when the reader of its output went away.

import { invalidUtf8Args } from '../src/cli/paths.js';
import { DEFAULT_SERVER, UsageError } from '../src/cli/usage.js';
import { escapeText } from '../src/fs/names.js';

const HELP = `govfs — a strongly consistent distributed file system control plane

Start a cluster:
  govfs cluster [--nodes N] [--threads W] [--data DIR] [--ministry /a:2 ...] [--listen host:port]
                                  a whole cluster in this process, on worker threads
  govfs node --id ID --peers ID=host:port,... --data DIR --secret-file F [--listen host:port]
                                  one node of a cluster spread over processes or hosts

Use it (against --server host:port, default $GOVFS_SERVER or ${DEFAULT_SERVER}):
  govfs ls [-l] [PATH...]         list directories
  govfs mkdir [-p] PATH...        make directories
  govfs touch PATH...             create empty files (an existing path is left as it is)
  govfs stat [--json] PATH...     kind, size, times and version of paths
  govfs rm [-r] PATH...           remove files (-r: directories and everything below)
  govfs rmdir [-r] PATH...        remove empty directories (-r: and everything below)
  govfs mv FROM TO                rename (within one ministry)
  govfs put LOCAL PATH            copy a local file into the cluster (creates or replaces PATH)
  govfs get PATH LOCAL            copy a file of the cluster to a local file
  govfs cat PATH...               print files' contents
  govfs status [--json] [--watch] president, ministries, staff, terms, commit indices, load, nodes
  govfs balance on|off|plan       the president's load balancer: turn it on or off, or see its plan
  govfs ministry split|merge PATH | list   move a subtree into a new ministry, or back into its parent
  govfs shell                     an interactive prompt with these commands, history and tab completion
  govfs mount MOUNTPOINT          the file system through FUSE, for any program; Ctrl-C unmounts
  govfs bench NAME [options]      benchmarks (govfs bench --help lists them)

Operate it:
  govfs backup FILE               one consistent copy of the cluster (every ministry at a recorded index)
  govfs restore FILE --data DIR   a new cluster's data folder from a backup (then: govfs cluster --data DIR)
  govfs init --nodes h1,h2,...    the shared secret and each node's flags for a cluster over several hosts

  govfs demo                      the actor runtime demo (tokens round a ring of worker threads)
  govfs COMMAND --help            options of a command

Paths are absolute (/a/b) and are not rewritten: no "." or "..", no "//"; a trailing "/" says
the path is a directory. A name is at most 255 bytes of UTF-8 without control characters.
Exit status: 0 ok, 1 the operation failed, 2 usage error (also: no command given).`;

const CLIENT_OPTIONS_HELP = `  --server host:port   a node (or govfs cluster) to talk to; repeat or comma-separate to give
                       several to fail over between (default: $GOVFS_SERVER or ${DEFAULT_SERVER})
  --token-file F       the cluster's client token, if it has one (or $GOVFS_TOKEN_FILE)
  --tls-ca F           connect over TLS, trusting the nodes' certificates signed by this CA
                       (or $GOVFS_TLS_CA)
  --timeout MS         give up after this long (default 15000)`;

const COMMAND_HELP: Record<string, string> = {
  cluster: `govfs cluster [--nodes N] [--threads W] [--data DIR] [--ministry /a:2 ...] [--listen host:port]

Runs a whole GovFS cluster in this process: N nodes (default 5, or as many as the static
ministries need: the president, the root's 3, and 1 + clerks for each) on W worker threads (default:
min(N, cores)), each with its lmdb storage under DIR (default ./govfs-data). Prints where
clients connect (default ${DEFAULT_SERVER}); Ctrl-C stops it cleanly. Starting it again on the
same DIR brings the same file system back (N and the ministries are remembered there).

  --nodes N            nodes in the cluster (default 5 or what --ministry needs, or as stored in DIR)
  --threads W          worker threads
  --data DIR           where the nodes keep their data (default ./govfs-data)
  --ministry /a:2      a static ministry serving subtree /a with 2 clerks (repeatable)
  --listen host:port   where clients connect (port 0: any free port)
  --token-file F       require clients to prove this token
  --tls-cert F         serve nodes and clients over TLS with this certificate (PEM) ...
  --tls-key F          ... and its key
  --tls-ca F           the CA that signs the nodes' certificates (default: the certificate itself)
  --log LEVEL          log level of every thread (default warn; or GOVFS_LOG): JSON lines on
                       stderr, formatted for reading when stderr is a terminal
  --log-file F         append the JSON lines of every thread to F instead (or GOVFS_LOG_FILE)
  --metrics host:port  serve Prometheus metrics at http://host:port/metrics
  --http host:port     serve the live web view (subtree map, staff, nodes, load, timeline)`,
  node: `govfs node --id ID --peers ID=host:port,... --data DIR --secret-file F [--listen host:port]

Runs one node of a cluster in this process. Every node gets the same --peers list (its own entry
is skipped, and gives its --listen address if --listen is left out) and the same secret file;
the nodes link to each other over TCP, authenticated with the secret. Clients connect to any
node's address (the same port). Ctrl-C or SIGTERM stops it cleanly; starting it again on the same
--data rejoins the cluster.

Membership (a client command, to any node of a running cluster):
  govfs node add ID=host:port   bring a node in: start it first with --join (and the same
                                secret and --peers); it catches up as a learner, then joins
                                the idle pool (a voter while the cluster has fewer than 5)
  govfs node remove ID          the president hands its roles over, then takes it out of the
                                cluster log; the others refuse it from then on
  --wait S                      how long they wait for it to be done (default 60; 0: not)

  --id ID              this node's id (e.g. n1)
  --join               this node joins a running cluster (govfs node add): it is not one of
                       the nodes the cluster started with, whose ids --peers lists
  --peers LIST         every node: ID=host:port, comma-separated
  --listen host:port   where this node listens for nodes and clients
  --data DIR           this node's storage (default ./govfs-data/ID)
  --secret-file F      the cluster secret (at least 16 bytes; e.g. head -c 32 /dev/urandom | base64 > F)
  --token-file F       require clients to prove this token
  --ministry /a:2      a static ministry (give the same on every node; repeatable)
  --tls-cert F         serve nodes and clients over TLS with this certificate (PEM) ...
  --tls-key F          ... and its key
  --tls-ca F           the CA that signs the nodes' certificates (default: the certificate itself)
  --log LEVEL          log level (default warn; or GOVFS_LOG): JSON lines on stderr, formatted
                       for reading when stderr is a terminal
  --log-file F         append the JSON lines to F instead (or GOVFS_LOG_FILE)
  --metrics host:port  serve Prometheus metrics of this node at http://host:port/metrics
  --http host:port     serve the live web view (the cluster as this node sees it)`,
  ls: `govfs ls [-l] [--linearizable] [PATH...] [--server host:port]

Lists each directory (default /): one name per line, directories with a trailing /. Names with
characters a terminal would act on are shown escaped, as $'a\\nb'. A plain ls may be served by a
clerk and miss the latest changes of other clients (this client's own are always seen).
  -l, --long           kind, size, modification time and version of each entry
  --linearizable       see every change committed before the call (asks the minister)
${CLIENT_OPTIONS_HELP}`,
  mkdir: `govfs mkdir [-p] PATH... [--server host:port]

Makes directories.
  -p, --parents        make missing parents too, and accept existing directories
${CLIENT_OPTIONS_HELP}`,
  put: `govfs put LOCAL PATH [--server host:port]

Writes the local file LOCAL (- for stdin) to PATH (made if missing, replaced if it exists;
into it as LOCAL's name if PATH is a directory)
under a write lease, 8 MiB at a time: done once every replica of every chunk holds the bytes
durably. A progress bar on stderr for files of 4 MiB or more.
${CLIENT_OPTIONS_HELP}`,
  get: `govfs get PATH LOCAL [--server host:port]

Reads PATH under a read lease into the local file LOCAL (- for stdout; into it as PATH's
name if LOCAL is a directory), a piece at a time,
through a file beside it renamed over it at the end (a get that fails leaves LOCAL as it
was); a progress bar for large files.
${CLIENT_OPTIONS_HELP}`,
  cat: `govfs cat PATH... [--server host:port]

Prints the contents of each file, under a read lease, to stdout.
${CLIENT_OPTIONS_HELP}`,
  touch: `govfs touch PATH... [--server host:port]

Creates empty files; a path that exists already is left as it is.
${CLIENT_OPTIONS_HELP}`,
  stat: `govfs stat [--json] PATH... [--server host:port]

Prints the kind, size, creation and modification times and version of each path.
${CLIENT_OPTIONS_HELP}`,
  rm: `govfs rm [-r] PATH... [--server host:port]

Removes files.
  -r, --recursive      remove directories and everything below them too
${CLIENT_OPTIONS_HELP}`,
  rmdir: `govfs rmdir [-r] PATH... [--server host:port]

Removes empty directories.
  -r, --recursive      and everything below them (subtrees served by other ministries too)
${CLIENT_OPTIONS_HELP}`,
  mv: `govfs mv FROM TO [--server host:port]

Renames FROM to TO, also across ministries (atomically: the old name or the new one,
never both). A directory holding another ministry's subtree cannot move (EXDEV).
${CLIENT_OPTIONS_HELP}`,
  balance: `govfs balance on|off|plan [--server host:port]

The president's automatic load balancer (thesis 3.4): a ministry whose average clerk CPU passes
95% gets an idle node as a new clerk (with none idle, a clerk is freed from the ministry under
the lightest read load); one that could lose a clerk and stay at or below 85% gives one back,
never going below a minister and two clerks.
  on, off              turn it on or off (an order in the cluster log; on by default)
  plan                 what the president would do now, and why, ministry by ministry
${CLIENT_OPTIONS_HELP}`,
  ministry: `govfs ministry split PATH | merge PATH | list [--timeout S] [--server host:port]

Live subtree migration (issue 16), through the cluster log; clients keep working throughout
(changes to the subtree wait while it moves: none is lost or applied twice).
  split PATH           a new ministry, formed from idle nodes, takes over the directory PATH
                       (and everything below it) from the ministry serving it
  merge PATH           the ministry whose subtree is PATH gives it back to the ministry above
                       it and is dissolved (its nodes go idle)
  list                 each ministry's subtree and staff, and the migrations (in progress,
                       then the last finished, with why they started or were aborted)
  --timeout S          wait at most S seconds for split or merge to finish (default 60)
${CLIENT_OPTIONS_HELP}`,
  status: `govfs status [--json] [--watch] [--server host:port]

Shows the president and cluster term, each ministry (subtree, minister, clerks, term, commit
index, up or down), each node (up or down, role, commit and applied index) and the idle nodes.
  --json               the same as JSON
  --watch              refresh every second until Ctrl-C
${CLIENT_OPTIONS_HELP}`,
  shell: `govfs shell [--server host:port]

An interactive prompt: ls, cd, pwd, mkdir, touch, stat, rm, rmdir, mv, status, help, exit. Paths
may be relative to the current directory (and start with ../); Tab completes them; history is
kept in ~/.govfs_history (or $GOVFS_HISTORY). Fed a script on stdin, it exits 1 if any command
failed.
${CLIENT_OPTIONS_HELP}`,
  mount: `govfs mount MOUNTPOINT [--server host:port] [--allow-other] [--timeout MS] [--binding kernel|fuse-native]

Mounts the cluster's file system at MOUNTPOINT (an existing, empty directory) through FUSE, so
that any program can use it; runs until Ctrl-C or SIGTERM, which unmount it. The kernel checks
permissions against the mode, uid and gid govfs stores (default_permissions). Attributes and
names are cached by the kernel for 1 s. A cluster that stops answering makes operations fail
with EIO after --timeout (default 10000 ms); a server that cannot be reached at all, ENOTCONN.
  --binding kernel     (the default; or $GOVFS_MOUNT_BINDING) govfs's own binding: the FUSE
                       protocol over /dev/fuse, mounted with mount(8) as root. Calls act as
                       the calling process's uid, gid and groups (new files are theirs), times
                       keep nanoseconds, inode numbers are 64-bit.
  --binding fuse-native  libfuse 2 through the fuse-native package (Debian: apt-get install
                       libfuse2): new files belong to the user running the mount, times in ms.
  --allow-other        let other users use the mount too (root only, or user_allow_other in
                       /etc/fuse.conf)
  --debug              a trace of every request on stderr
${CLIENT_OPTIONS_HELP}`,
  bench: `govfs bench NAME [options]

  govfs bench ops [--server host:port] [--ops N] [--clients C] [--json]
        against a running cluster: C clients (default 8) create N files (default 2000) in a
        fresh directory, then list and stat them; ops/s and latency percentiles, with a
        progress bar on stderr.
  govfs bench LOCAL [--json] [options]
        the in-process benchmarks of bench/ (mailbox, bridge, meta, raft, ...), each starting
        its own threads: the same as npm run bench -- LOCAL. govfs bench list shows them.`,
  backup: `govfs backup FILE [--server host:port] [-q]

Writes one consistent copy of the cluster to FILE: the cluster as its log shows it (president,
term, nodes, each ministry's subtree and staff) and every path of every ministry with its stat
and every file's contents, each ministry as of one applied index of its log (every change
committed before that index is in the copy, none after; contents are read under read leases).
Ministries are copied one after another, each at its own index. Clients may keep working
meanwhile; a ministry whose files keep changing during several copies in a row fails the backup
(EAGAIN). FILE (format 3) is written whole or not at all.
  -q, --quiet          no progress on stderr
${CLIENT_OPTIONS_HELP}`,
  restore: `govfs restore FILE --data DIR [--threads W]

Makes DIR (new or empty) the data folder of a new cluster holding the file system of backup
FILE: starts that cluster in this process (as many nodes, the same static ministries), re-creates
every path and writes every file's contents back, and stops it. Then \`govfs cluster --data DIR\`
starts it. Kept: paths, contents, modes, owners, atime and mtime, symlinks, hard links; ctime,
inode numbers and versions are the restore's; terms and log indices start anew.
A truncated or altered FILE is refused before anything is written (EBADMSG).
  --data DIR           the new cluster's data folder (must be empty or not exist)
  --threads W          worker threads for the restoring cluster`,
  init: `govfs init --nodes host1,host2,... [--out DIR] [--port P] [--data DIR] [--listen-host H]

Writes what a cluster of govfs node processes on several hosts shares: DIR/secret (32 random
bytes, base64, mode 0600) and DIR/nI.env for each node (nI is the Ith host): GOVFS_NODE_ARGS, the
flags of its govfs node (--id, --peers, --listen, --data, --secret-file /etc/govfs/secret), as
read by the systemd unit and the container image of docs/deploy/. Refuses to overwrite a secret.
  --nodes LIST         the hosts, comma-separated: host or host:port (port default --port)
  --out DIR            where to write (default ./govfs-deploy)
  --port P             the port of hosts given without one (default 7401)
  --data DIR           each node's data folder on its host (default /var/lib/govfs)
  --listen-host H      the address nodes bind (default 0.0.0.0)
  --force              replace an existing secret and env files`,
  demo: `govfs demo [--threads W] [--data DIR]

Starts W worker threads (default: one per core), one demo node on each, with lmdb storage
under DIR (default ./govfs-data-demo). The nodes pass tokens round a ring through the
ring-buffer mailboxes and count laps durably; run it again and the counts carry on.
Prints throughput once a second. Ctrl-C stops it cleanly.`,
};


const CLIENT_COMMANDS = new Set(['ls', 'mkdir', 'touch', 'stat', 'rm', 'rmdir', 'mv', 'status', 'balance', 'put', 'get', 'cat', 'ministry']);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const bad = invalidUtf8Args(args);
  if (bad.length > 0) {
    const which = bad.map((i) => JSON.stringify(args[i])).join(', ');
    throw new UsageError(`argument ${which} is not valid UTF-8 (each \ufffd marks bytes that are not): govfs names are UTF-8; rename the source, or type the name in UTF-8`);
  }
  const [command, ...rest] = args;
  if (command === undefined) {
    console.error(HELP);
    throw new UsageError('no command given');
  }
  switch (command) {
    case 'cluster':
      return (await import('../src/cli/servers.js')).clusterCommand(rest, COMMAND_HELP.cluster!);
    case 'node':
      // `govfs node add|remove` is a client command; `govfs node --id ...` runs a node.
      if (rest[0] === 'add' || rest[0] === 'remove') return (await import('../src/cli/client-commands.js')).clientCommand('member', rest, COMMAND_HELP.node!);
      return (await import('../src/cli/servers.js')).nodeCommand(rest, COMMAND_HELP.node!);
    case 'shell':
      return (await import('../src/cli/shell.js')).shellCommand(rest, COMMAND_HELP.shell!);
    case 'bench':
      return (await import('../src/cli/bench.js')).benchCommand(rest, COMMAND_HELP.bench!);
    case 'demo':
      return (await import('../src/cli/demo.js')).demoCommand(rest, COMMAND_HELP.demo!);
    case 'mount':
      return (await import('../src/cli/mount.js')).mountCommand(rest, COMMAND_HELP.mount!);
    case 'backup':
      return (await import('../src/cli/ops-commands.js')).backupCommand(rest, COMMAND_HELP.backup!);
    case 'restore':
      return (await import('../src/cli/ops-commands.js')).restoreCommand(rest, COMMAND_HELP.restore!);
    case 'init':
      return (await import('../src/cli/ops-commands.js')).initCommand(rest, COMMAND_HELP.init!);
    case 'help':
    case '--help':
    case '-h':
      if (rest[0] && COMMAND_HELP[rest[0]]) console.log(COMMAND_HELP[rest[0]]);
      else console.log(HELP);
      return;
    default:
      if (CLIENT_COMMANDS.has(command)) return (await import('../src/cli/client-commands.js')).clientCommand(command, rest, COMMAND_HELP[command]!);
      throw new UsageError(`unknown command "${command}" (govfs --help lists them)`);
  }
}

/**
 * The reader of our output went away (`govfs ls / | head -1`). Node ignores SIGPIPE and reports
 * EPIPE as an error on the stream instead; a one-shot command then stops at once with the
 * status a shell reports for a process killed by SIGPIPE, without a stack trace. A server
 * (cluster, node) keeps serving: its output is only information.
 */
function onBrokenPipe(stream: NodeJS.WriteStream, command: string | undefined): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    if (command === 'cluster' || command === 'node') return;
    process.exit(141);
  });
}

onBrokenPipe(process.stdout, process.argv[2]);
onBrokenPipe(process.stderr, process.argv[2]);

main().catch((e: unknown) => {
  console.error(`govfs: ${escapeText((e as Error).message)}`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});

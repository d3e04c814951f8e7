// Package runner runs the apps of `herd run`: any program as N supervised
// instances in the foreground, in the style of pm2-runtime and gunicorn, on
// top of the cluster package.
//
// What to run is an app.App (package app holds every option, its default
// and its validation); where the lines go is a logsink.Logs. New turns the
// App into a cluster.Config of Command workers, and adds what the cluster
// does not know: the restart policy (through Config.Respawn), the
// crash-loop rule of unstable exits in a row (an instance that exits more
// than App.MaxRestarts times in a row, each before it was ready for
// App.MinUptime, makes the app errored, whatever the backoff; the cluster
// applies the same rule, and the runner reports it in an *UnstableError
// that names the flags and keys that change it), the memory watcher (the RSS of
// each instance's process tree, sampled from its start; a ready instance
// over App.MaxMemory is recycled, one not ready yet is killed as a failed
// start), the readiness probe of non-Node programs and the warning about an
// instance that never takes its socket. The line writers of an instance
// are flushed when it exits, so that a last line without a newline is
// logged and kept for the stderr tail of errors.
//
// With Ports, or Cluster, an app runs in cluster mode: its instances share
// their ports. A Node process of an instance (node itself, or one that npm,
// yarn or a script starts: the shim travels in NODE_OPTIONS) loads herd's
// preload shim (package nodeshim), whose listen(port, host) asks the
// Runner's broker for that address: the Runner opens it through the
// cluster (once, then shared; cluster.Cluster.Listener), on the host the
// app gave unless App.Host says otherwise, and refuses with a *HostError
// what would widen it. Other programs get the Ports open before they start
// (on App.Host, or every interface), inherited as fds 3, 4, ... (LISTEN_FDS,
// LISTEN_FDNAMES "port-<n>", LISTEN_PID). PORT is set to the first port.
// Without either it runs in fork mode: N independent instances.
// Every instance starts in App.Dir and gets HERD_INSTANCE and
// NODE_APP_INSTANCE (its slot, 0..N-1), HERD_APP (the app's name) and
// HERD_READY (the readiness mode), and none of the cluster's own
// HERD_CLUSTER_* variables: it is not a Go cluster worker.
//
// Readiness (App.Ready) is one of:
//   - "listen": a Node app is ready when its server takes the socket (the
//     shim reports it); any program, Node or not, is ready when a process of
//     its tree waits for connections on a shared socket, which herd reads
//     from /proc (the socket in one of its epoll sets, or a thread in
//     accept; see package sockwatch): a node:cluster primary, a server in a
//     process the app forked, the node of npm start; in fork mode, once
//     started;
//   - "notify": the app sends READY=1 to $NOTIFY_SOCKET (systemd's
//     sd_notify); herd gives each instance its own unixgram socket;
//   - "message": the app sends 'ready' on the Node IPC channel (PM2's
//     wait_ready), or {"herd":"ready"};
//   - "start": ready as soon as it started.
//
// Output of every instance goes through the Logs' line writers: prefixed
// ("web[0] | ..."), colored on a terminal, or JSON records, to the console,
// the global file and the app's own files (App.LogFile, OutFile,
// ErrorFile). Run returns nil after a clean stop and typed errors
// otherwise; see Run.
package runner

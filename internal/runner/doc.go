// Package runner is the app model behind `herd run`: it runs any program as
// N supervised instances in the foreground, in the style of pm2-runtime and
// gunicorn, on top of the cluster package.
//
// An App is a command plus how to run it. With Ports it runs in cluster mode:
// herd opens every port once and each instance inherits the listening
// sockets as fds 3, 4, ... (LISTEN_FDS, LISTEN_FDNAMES "port-<n>",
// LISTEN_PID) with PORT set to the first port. A Node app is started with
// herd's preload shim (package nodeshim) so that its unmodified
// server.listen(port) takes the inherited socket. Without Ports it runs in
// fork mode: N independent instances. Every instance gets HERD_INSTANCE and
// NODE_APP_INSTANCE (its slot, 0..N-1) and HERD_APP (the app's name).
//
// Readiness (App.Ready) is one of:
//   - "listen": a Node app is ready when its server takes the socket (the
//     shim reports it); any other program is ready when it waits for
//     connections on the socket, which herd reads from /proc (the socket in
//     one of its epoll sets, or a thread in accept; see package sockwatch);
//     in fork mode, once started;
//   - "notify": the app sends READY=1 to $NOTIFY_SOCKET (systemd's
//     sd_notify); herd gives each instance its own unixgram socket;
//   - "message": the app sends 'ready' on the Node IPC channel (PM2's
//     wait_ready), or {"herd":"ready"};
//   - "start": ready as soon as it started.
//
// Output of every instance is split into lines and written with a prefix
// naming the app and instance ("web[0] | ..."), colored on a terminal, or as
// JSON records with --json (see Logs). Logs.File receives every line of
// every app. Each app may also have its own files (App.LogFile for all its
// lines, OutFile for stdout, ErrorFile for stderr), never colored, each
// plain-text line timestamped, rotated by size (App.LogMaxSize) with
// retention by count (LogKeep) and age (LogMaxAge); see RotatingFile. The
// apps of one Logs open each distinct path once and share it. Run returns
// nil after a clean stop and typed errors otherwise; see Run.
package runner

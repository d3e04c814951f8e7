// Package daemon is herd's background supervisor: one process per user
// that runs many apps, each with package runner (an app.App on a cluster),
// and that the herd commands drive over a unix socket.
//
// The model:
//
//   - State lives in a Home ($HERD_HOME, default ~/.herd, mode 0700): the
//     control socket herd.sock (mode 0600), logs/ with each app's rotating
//     files (NAME-out.log, NAME-error.log), the saved process list
//     dump.json (and dump.json.bak), the daemon's own log daemon.log and
//     its pid file herd.pid, locked while it runs so that one daemon runs
//     per Home. Each user has their own Home, so root's daemon and a user's
//     never share a socket.
//   - The control protocol is HTTP/JSON on the socket (no TCP listener).
//     Every connection's peer credentials (SO_PEERCRED) are checked: a
//     process of another uid is refused, and the refusal logged. A client
//     sends its version in the Herd-Version header; a daemon of another
//     version refuses it (409) except for /v1/version, /v1/ping and
//     /v1/kill, so that a CLI never silently drives another version.
//   - An app is a Spec: the App and the environment of the command that
//     started it. An app sees that environment with the App's Env over it,
//     and nothing of the daemon's own (`herd daemon` clears its environment
//     at start, since package cluster adds a worker's environment to the
//     primary's). restart keeps it; --update-env replaces it whole, so that
//     variables removed from the caller's environment disappear.
//   - Commands on one app are serialized; commands on different apps run
//     at once. An app's lines go to its files under logs/ and to the
//     followers of GET /v1/logs; its state changes to GET /v1/events.
//   - herd update (POST /v1/update, any version), in place: the daemon
//     freezes its apps (runner.Runner.Handover), writes its state with the
//     descriptors to keep (exec-state.json, ExecStateEnv) and execs the new
//     binary from the thread that started every instance (child.Reexec),
//     so it keeps its pid and its children; the new image adopts them
//     (runner.WithAdopted) and answers the update on the request's own
//     connection. See exec.go. A binary that cannot adopt (CanAdoptArg),
//     or UpdateRequest.Takeover, gets the takeover instead: the daemon
//     writes its list to handover.json and starts a daemon of the new
//     binary, handing it its apps' listening sockets; the new daemon starts
//     the apps on them and reports on a pipe (TakeoverEnv); then the old
//     instances drain and the old daemon exits. Neither refuses a
//     connection.
//   - Every app's instances run under herd's guard (internal/guard), so
//     that when the daemon dies, even of SIGKILL, its apps die with it and
//     free their ports: no orphan is left. A daemon started with Resurrect
//     (systemd's unit runs `herd daemon --resurrect`) restores the saved
//     list.
//
// Client is the other side, used by the herd commands.
package daemon

// Package contender starts and stops the multi-process hello-world servers
// that the cluster benchmarks (bench/clusterbench, bench/runbench) measure
// side by side, so that both suites start, time and clean up their peers the
// same way.
//
// A contender is a server on a loopback address whose every instance answers
// GET / with "Handled by worker <pid>" (see bench/internal/probe). It runs in
// one of two ways:
//
//   - a process this package starts in a process group of its own, with
//     SIGKILL as its parent-death signal: any command (Proc), or Node's
//     cluster module running bench/node/cluster-server.js (NodeCluster);
//   - a PM2 daemon, which is not our child, in a private temporary PM2_HOME so
//     that a user's own PM2 is never touched, running bench/node/cluster-app.js
//     with `pm2 start -i N` (PM2).
//
// A contender counts as started when its process prints a line READY on
// stdout (ReadyLine), or when N distinct pids have answered on its address
// (ReadyAnswers, the zero value, which PM2 always uses); Server.Start is the
// time from exec until then. Every wait is bounded by StartTimeout and by the
// caller's context.
//
// Server.Stop ends a contender and everything it started: SIGTERM to the
// process group, SIGKILL after five seconds, then SIGKILL to the PM2 daemon
// and to every instance pid seen answering (Server.PIDs), whichever apply.
package contender

// Package monit is the terminal view behind `herd monit`: a full-screen
// table of the daemon's apps, each expandable into its instances, with the
// status, uptime, restarts, CPU and resident memory of each and a sparkline
// of its recent memory, over a pane that streams the selected app's logs.
//
// The model:
//
//	daemon socket ──List every Interval──▶ rows, and a History of samples
//	             ──/v1/events───────────▶ an early List (a state changed)
//	             ──/v1/logs?follow=1────▶ the log pane (the selected app)
//	keys ──▶ a confirmation line ──y──▶ Client.Action (restart, reload,
//	         stop, scale); start is a restart of a stopped app
//
// Everything the view knows comes from the daemon's Client: the view holds
// no state of its own that the daemon does not, so two views, or a view and
// the herd commands, never disagree for longer than one Interval.
//
// The view is a bubbletea program. It redraws at most FPS times a second
// (DefaultFPS), uses no colour when NO_COLOR is set, drops columns on
// narrow terminals, and restores the terminal when it ends, whether by q,
// ctrl+c, SIGINT, SIGTERM or SIGHUP.
package monit

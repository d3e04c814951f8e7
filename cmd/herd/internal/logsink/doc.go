// Package logsink is where the lines of `herd run` go: the console, a
// global log file, and each app's own rotating files.
//
// A Logs is one set of sinks. Writer gives each instance stream (stdout,
// stderr) a line writer that prefixes every line with the app and the
// instance ("web[0] | ..."), colored on a terminal, or writes it as a JSON
// record; Logger gives herd's own lines about an app ("herd web | ...").
// Every line goes to Out, and to File if set, never colored. ForApp derives
// the Logs of one app with files of its own (Files: every line, stdout,
// stderr), creating their folders: by default they hold the app's lines as
// it wrote them, as PM2's files do, dated only with a DateFormat (PM2's
// log_date_format, in dayjs tokens); Files.Prefixed writes the console's
// lines instead, each plain-text one timestamped, herd's own included. The
// apps of one Logs open each distinct path once and share it, and Release
// closes an app's files once no other app uses them. RotatingFile rotates a
// file by size and keeps rotated files by count and age.
package logsink

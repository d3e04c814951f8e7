// Package procfs reads the Linux /proc file system: the stat and status of a
// process, its threads, its children and the whole tree of its
// descendants, and its open file descriptors.
//
// It is the one place in herd that knows the layout of /proc. An FS names
// the directory where /proc is mounted; its zero value reads /proc, and
// tests point Root at a directory they built themselves. The functions of
// the package (Stat, Children, Tree, ...) read the default FS.
//
// A process may exit at any moment while it is read. Methods that read one
// file return an error that wraps fs.ErrNotExist (or syscall.ESRCH) once the
// process is gone; those that combine many files (Children, Tree, Tasks)
// skip the parts that vanish on the way and return what they found.
//
// The parsers (ParseStat, ParseStatus, ParsePids) take the bytes of one file
// and never panic; they are fuzzed. The command name in a stat file is
// written between parentheses and may itself hold spaces and parentheses,
// so ParseStat takes it from the first '(' to the last ')'.
package procfs

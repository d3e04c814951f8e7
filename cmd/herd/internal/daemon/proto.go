package daemon

import (
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
)

// VersionHeader is the HTTP header in which a client sends its version and
// the daemon answers with its own. A request whose version differs from
// the daemon's is refused with 409 Conflict (see ErrVersionMismatch),
// except on the paths that work across versions: /v1/version, /v1/ping and
// /v1/kill.
const VersionHeader = "Herd-Version"

// Status of an app in the daemon.
const (
	StatusOnline    = "online"    // every instance started; serving
	StatusLaunching = "launching" // starting, not every instance ready yet
	StatusStopping  = "stopping"  // being stopped
	StatusStopped   = "stopped"   // stopped by a command; kept in the list
	StatusErrored   = "errored"   // failed at start or kept crashing; see Error
)

// Spec is what the daemon needs to start an app: the App and the
// environment the app was started with (the caller's environment, KEY=VALUE;
// the App's own Env is added over it). The daemon's own environment never
// reaches an app.
type Spec struct {
	App app.App  `json:"app"`
	Env []string `json:"env"`
}

// StartRequest is the body of POST /v1/apps.
type StartRequest struct {
	Apps []Spec `json:"apps"`
}

// Result is one app's outcome of a command that acts on apps.
type Result struct {
	Name  string `json:"name"`
	ID    int    `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Note  string `json:"note,omitempty"`
}

// Results is the body of every answer to a command that acts on apps
// (start, stop, restart, reload, delete, scale, signal, flush, resurrect):
// one Result per app. Note, if set, is a line for the user (such as "the
// dump was unreadable, restored from dump.json.bak").
type Results struct {
	Results []Result `json:"results"`
	Note    string   `json:"note,omitempty"`
}

// ActionRequest is the body of POST /v1/apps/{target}/{action}. Env, with
// UpdateEnv, replaces the app's start environment (restart and reload).
// Instances is scale's argument: "N", "+N" or "-N". Signal is signal's
// argument: a name such as "SIGUSR2" or "USR2", or a number.
type ActionRequest struct {
	UpdateEnv bool     `json:"update_env,omitempty"`
	Env       []string `json:"env,omitempty"`
	Instances string   `json:"instances,omitempty"`
	Signal    string   `json:"signal,omitempty"`
}

// Instance is one live instance of an app.
type Instance struct {
	Slot     int     `json:"slot"`
	PID      int     `json:"pid"` // the program's pid (not its guard's)
	State    string  `json:"state"`
	UptimeMS int64   `json:"uptime_ms"`
	Restarts int     `json:"restarts"`
	CPU      float64 `json:"cpu"`    // percent of one core, over the last sample
	Memory   int64   `json:"memory"` // resident bytes of the instance's process tree
}

// AppInfo is one app as GET /v1/apps lists it; GET /v1/apps/{target}
// adds Spec (Describe).
type AppInfo struct {
	ID        int        `json:"id"`
	Name      string     `json:"name"`
	Mode      string     `json:"mode"` // "cluster" (ports) or "fork"
	Instances int        `json:"instances"`
	Status    string     `json:"status"`
	UptimeMS  int64      `json:"uptime_ms"`
	Restarts  int        `json:"restarts"`
	CPU       float64    `json:"cpu"`
	Memory    int64      `json:"memory"`
	Pids      []int      `json:"pids"`
	Live      []Instance `json:"live"`
	Error     string     `json:"error,omitempty"`
	Spec      *Spec      `json:"spec,omitempty"`
}

// List is the body of GET /v1/apps.
type List struct {
	Apps []AppInfo `json:"apps"`
}

// VersionInfo is the body of GET /v1/version and /v1/ping.
type VersionInfo struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
	Home    string `json:"home"`
	Started string `json:"started"` // RFC 3339
}

// SaveRequest is the body of POST /v1/save.
type SaveRequest struct {
	Force bool `json:"force,omitempty"`
}

// SaveResult is the answer of POST /v1/save.
type SaveResult struct {
	Path  string `json:"path"`
	Apps  int    `json:"apps"`
	Bak   string `json:"bak,omitempty"` // the previous dump, kept
	Saved string `json:"saved"`         // RFC 3339
}

// LogLine is one line of GET /v1/logs, and of `herd logs --json`.
type LogLine struct {
	Time     time.Time `json:"time"`
	App      string    `json:"app"`
	Instance int       `json:"instance"` // -1 for herd's own lines
	Stream   string    `json:"stream"`   // "stdout", "stderr" or "herd"
	Msg      string    `json:"msg"`
}

// ErrorBody is the body of every answer with a status of 400 or more.
type ErrorBody struct {
	Error string `json:"error"`
}

// UpdateRequest is the body of POST /v1/update: the herd binary whose
// daemon takes over.
type UpdateRequest struct {
	Exe string `json:"exe"`
	// Takeover asks for the update by takeover (a new daemon process
	// and new app processes) even when the binary can take the state
	// over in place.
	Takeover bool `json:"takeover,omitempty"`
}

// UpdateResult is the answer of POST /v1/update.
type UpdateResult struct {
	OldPID int `json:"old_pid"`
	NewPID int `json:"new_pid"`
	Apps   int `json:"apps"`
	// Sockets is the number of listening sockets the new daemon took over.
	Sockets int `json:"sockets"`
	// InPlace is true when the daemon replaced its own image (exec): its
	// pid and its apps' processes were kept; Instances is the number of
	// those processes it took back.
	InPlace   bool `json:"in_place,omitempty"`
	Instances int  `json:"instances,omitempty"`
}

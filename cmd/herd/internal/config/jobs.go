package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/jobs"
	"go.yaml.in/yaml/v3"
)

// Jobs is herd.yaml's jobs: block: where the jobs store is, for the apps
// of the file and for the herd command. Empty fields are not set.
//
//	jobs:
//	  nats: [nats://10.0.0.1:4222, nats://10.0.0.2:4222, nats://10.0.0.3:4222]
//	  replicas: 3       # copies of every stream: 3 survives one lost node
//	  prefix: herd      # names of the streams and buckets
//	# or, for one machine (the default of an app that names no store):
//	#   dir: data/jobs  # an embedded store, relative to the file
//
// Load gives every app the block as jobs.EnvNATS, EnvDir, EnvReplicas and
// EnvPrefix in its environment (unless the app's env sets them), which
// jobs.Config.WithEnv reads; the herd command's jobs export and import
// read it with -c.
type Jobs struct {
	NATS     []string
	Dir      string // absolute
	Replicas int
	Prefix   string
}

// Env returns the block as the environment variables jobs.Config.WithEnv
// reads, sorted.
func (j Jobs) Env() []string {
	var out []string
	if len(j.NATS) > 0 {
		out = append(out, jobs.EnvNATS+"="+strings.Join(j.NATS, ","))
	}
	if j.Dir != "" {
		out = append(out, jobs.EnvDir+"="+j.Dir)
	}
	if j.Replicas > 0 {
		out = append(out, jobs.EnvReplicas+"="+strconv.Itoa(j.Replicas))
	}
	if j.Prefix != "" {
		out = append(out, jobs.EnvPrefix+"="+j.Prefix)
	}
	sort.Strings(out)
	return out
}

// Getenv looks a variable up in Env, for jobs.Config.WithEnv.
func (j Jobs) Getenv(key string) string {
	for _, kv := range j.Env() {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// LoadJobs reads the jobs: block of a herd.yaml file; a file without one
// gives the zero Jobs. A bad key is a *ConfigError naming its line.
func LoadJobs(path string) (Jobs, error) {
	if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
		return Jobs{}, &ConfigError{File: path, Msg: "the jobs: block is read from herd.yaml files only (.yaml, .yml)"}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Jobs{}, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Jobs{}, yamlSyntaxErr(path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return Jobs{}, &ConfigError{File: path, Line: 1, Msg: "want a mapping with an apps: list (and a jobs: block)"}
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "jobs" {
			return parseJobs(path, root.Content[i+1])
		}
	}
	return Jobs{}, nil
}

// jobsKeys maps the block's keys to the variables they set.
var jobsKeys = map[string]string{"nats": jobs.EnvNATS, "dir": jobs.EnvDir, "replicas": jobs.EnvReplicas, "prefix": jobs.EnvPrefix}

// parseJobs reads a jobs: block and checks it with jobs.Config.WithEnv's
// own rules, so that herd.yaml and the environment accept the same values.
func parseJobs(path string, n *yaml.Node) (Jobs, error) {
	if n.Kind != yaml.MappingNode {
		return Jobs{}, &ConfigError{File: path, Line: n.Line, Msg: "jobs: want a mapping such as {nats: [nats://HOST:4222, ...], replicas: 3} or {dir: data/jobs}"}
	}
	var j Jobs
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		lines[k.Value] = k.Line
		bad := func(msg string) error {
			return &ConfigError{File: path, Line: k.Line, Msg: "jobs." + k.Value + ": " + msg}
		}
		switch k.Value {
		case "nats":
			switch v.Kind {
			case yaml.ScalarNode:
				j.NATS = []string{v.Value}
			case yaml.SequenceNode:
				for _, u := range v.Content {
					if u.Kind != yaml.ScalarNode {
						return Jobs{}, bad("want a list of URLs such as [nats://10.0.0.1:4222, nats://10.0.0.2:4222]")
					}
					j.NATS = append(j.NATS, u.Value)
				}
			default:
				return Jobs{}, bad("want a list of URLs such as [nats://10.0.0.1:4222, nats://10.0.0.2:4222]")
			}
			list, err := jobs.ParseURLs(strings.Join(j.NATS, ","))
			if err != nil {
				return Jobs{}, bad(err.Error())
			}
			j.NATS = list
		case "dir":
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				return Jobs{}, bad("want a directory such as data/jobs")
			}
			j.Dir = v.Value
			if !filepath.IsAbs(j.Dir) {
				base, _ := filepath.Abs(filepath.Dir(path))
				j.Dir = filepath.Join(base, j.Dir)
			}
		case "replicas":
			r, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || r < 1 || r > jobs.MaxReplicas {
				return Jobs{}, bad(fmt.Sprintf("want a number from 1 to %d (3 survives the loss of one node), not %s", jobs.MaxReplicas, v.Value))
			}
			j.Replicas = r
		case "prefix":
			if v.Kind != yaml.ScalarNode {
				return Jobs{}, bad("want a name of letters, digits, '-' and '_'")
			}
			j.Prefix = v.Value
		default:
			return Jobs{}, &ConfigError{File: path, Line: k.Line, Msg: fmt.Sprintf("jobs: unknown key %q (want nats, dir, replicas or prefix)", k.Value)}
		}
	}
	if _, err := (jobs.Config{}).WithEnv(j.Getenv); err != nil {
		var ve *jobs.ValidationError
		if errors.As(err, &ve) {
			for key, env := range jobsKeys {
				if env == ve.Field {
					msg := ve.Problem
					if key == "nats" && j.Dir != "" {
						msg = "nats and dir are both set: give nats for a cluster, or dir for an embedded store"
					}
					return Jobs{}, &ConfigError{File: path, Line: lines[key], Msg: "jobs." + key + ": " + msg}
				}
			}
		}
		return Jobs{}, &ConfigError{File: path, Line: n.Line, Msg: "jobs: " + err.Error()}
	}
	return j, nil
}

// withJobsEnv adds the block's variables to the app's env, where the app
// does not set them itself.
func withJobsEnv(a *app.App, j Jobs) {
	have := map[string]bool{}
	for _, kv := range a.Env {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	for _, kv := range j.Env() {
		k, _, _ := strings.Cut(kv, "=")
		if !have[k] {
			a.Env = append(a.Env, kv)
		}
	}
	sort.Strings(a.Env)
}

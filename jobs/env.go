package jobs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The environment variables that Config.WithEnv reads. The herd command
// reads the same ones (its flags and herd.yaml's jobs: block win over
// them), and sets them from herd.yaml for the apps it runs, so an app and
// herd find one store the same way.
const (
	// EnvNATS lists NATS URLs, comma-separated: the nodes of a cluster
	// (Config.URLs). Setting it switches from the embedded store.
	EnvNATS = "HERD_JOBS_NATS"
	// EnvDir is the embedded store's directory (Config.Dir).
	EnvDir = "HERD_JOBS_DIR"
	// EnvReplicas is Config.Replicas, 1 to MaxReplicas.
	EnvReplicas = "HERD_JOBS_REPLICAS"
	// EnvPrefix is Config.Prefix.
	EnvPrefix = "HERD_JOBS_PREFIX"
)

// WithEnv returns cfg with the variables EnvNATS, EnvDir, EnvReplicas and
// EnvPrefix of getenv (os.Getenv if nil) over it; an empty variable
// changes nothing. EnvNATS sets URLs and clears Dir and Listen (a list of
// URLs switches to a cluster); EnvDir sets Dir and clears URLs; both set
// is an error. So code can name its default store and let the
// environment move it:
//
//	cfg, err := jobs.Config{Dir: "data/jobs"}.WithEnv(nil)
//
// A bad value is a *ValidationError whose Field is the variable's name.
func (cfg Config) WithEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	urls, dir := strings.TrimSpace(getenv(EnvNATS)), getenv(EnvDir)
	switch {
	case urls != "" && dir != "":
		return cfg, &ValidationError{Field: EnvNATS, Problem: fmt.Sprintf("%s and %s are both set: set %s for a cluster, or %s for an embedded store", EnvNATS, EnvDir, EnvNATS, EnvDir)}
	case urls != "":
		list, err := ParseURLs(urls)
		if err != nil {
			return cfg, &ValidationError{Field: EnvNATS, Problem: err.Error()}
		}
		cfg.URLs, cfg.Dir, cfg.Listen = list, "", ""
	case dir != "":
		cfg.Dir, cfg.URLs = dir, nil
	}
	if v := strings.TrimSpace(getenv(EnvReplicas)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxReplicas {
			return cfg, &ValidationError{Field: EnvReplicas, Problem: fmt.Sprintf("%q: write a number from 1 to %d (3 survives the loss of one node)", v, MaxReplicas)}
		}
		cfg.Replicas = n
	}
	if v := strings.TrimSpace(getenv(EnvPrefix)); v != "" {
		if !tokenRE.MatchString(v) {
			return cfg, &ValidationError{Field: EnvPrefix, Problem: fmt.Sprintf("%q: use letters, digits, '-' and '_'", v)}
		}
		cfg.Prefix = v
	}
	return cfg, nil
}

// ParseURLs splits a comma-separated list of NATS URLs, such as
// "nats://10.0.0.1:4222,nats://10.0.0.2:4222", as EnvNATS and the herd
// command's --nats flag take it. Each URL is nats://, tls://, ws:// or
// wss:// with a host and port, or a bare HOST:PORT.
func ParseURLs(s string) ([]string, error) {
	var out []string
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		rest := u
		if scheme, after, ok := strings.Cut(u, "://"); ok {
			switch scheme {
			case "nats", "tls", "ws", "wss":
			default:
				return nil, fmt.Errorf("%q: the scheme must be nats://, tls://, ws:// or wss:// (such as nats://10.0.0.1:4222)", u)
			}
			rest = after
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				rest = rest[at+1:]
			}
		}
		rest = strings.TrimSuffix(rest, "/")
		i := strings.LastIndex(rest, ":")
		host, port := rest[:max(i, 0)], rest[i+1:]
		if p, err := strconv.Atoi(port); i < 0 || host == "" || err != nil || p < 1 || p > 65535 || strings.ContainsAny(u, " \t") {
			return nil, fmt.Errorf("%q: write a URL with a host and a port, such as nats://10.0.0.1:4222", u)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no URL in %q: write nats://HOST:PORT, comma-separated for several", s)
	}
	return out, nil
}

package jobs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestWithEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	base := Config{Dir: "data/jobs", Listen: "127.0.0.1:0"}
	for _, tc := range []struct {
		name string
		env  func(string) string
		want Config
	}{
		{"nothing", env(), base},
		{"cluster", env(EnvNATS, " nats://10.0.0.1:4222, nats://10.0.0.2:4222,10.0.0.3:4222 ", EnvReplicas, "3", EnvPrefix, "t1"),
			Config{URLs: []string{"nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "10.0.0.3:4222"}, Replicas: 3, Prefix: "t1"}},
		{"dir", env(EnvDir, "/var/lib/jobs"), Config{Dir: "/var/lib/jobs", Listen: "127.0.0.1:0"}},
		{"user and ipv6", env(EnvNATS, "tls://u:p@[::1]:4222"), Config{URLs: []string{"tls://u:p@[::1]:4222"}}},
	} {
		got, err := base.WithEnv(tc.env)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	cfg, err := (Config{URLs: []string{"nats://a:1"}}).WithEnv(env(EnvDir, "d"))
	if err != nil || cfg.Dir != "d" || cfg.URLs != nil {
		t.Errorf("a dir over URLs: %+v, %v", cfg, err)
	}
	for _, tc := range []struct{ field, value, want string }{
		{EnvNATS, "http://a:4222", "scheme"},
		{EnvNATS, "nats://a", "host and a port"},
		{EnvNATS, "a:99999", "host and a port"},
		{EnvNATS, ",", "no URL"},
		{EnvReplicas, "three", "from 1 to 5"},
		{EnvReplicas, "6", "from 1 to 5"},
		{EnvPrefix, "a.b", "letters"},
	} {
		_, err := base.WithEnv(env(tc.field, tc.value))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: %v; want a ValidationError on %s saying %q", tc.field, tc.value, err, tc.field, tc.want)
		}
	}
	_, err = base.WithEnv(env(EnvNATS, "nats://a:1", EnvDir, "d"))
	if err == nil || !strings.Contains(err.Error(), "both set") {
		t.Errorf("both: %v", err)
	}
}

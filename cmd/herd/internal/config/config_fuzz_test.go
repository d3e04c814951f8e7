package config

import "testing"

// FuzzParseConfig feeds arbitrary bytes to both config parsers (a JSON
// ecosystem file may come from node's output): each returns apps or an
// error, never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(ecosystem))
	f.Add([]byte(`{"apps":[{"name":"x","script":"a.js","instances":"max","exec_mode":"cluster","env":{"PORT":1}}]}`))
	f.Add([]byte(`{"apps":[{"script":"a","args":["x"],"stop_exit_codes":[1,2],"min_uptime":"1s","restart_delay":-1}]}`))
	f.Add([]byte("apps:\n  - name: web\n    command: [node, a.js]\n    instances: max\n    ports: [3000]\n    env_production: {A: b}\n"))
	f.Add([]byte("apps:\n  - script: a.js\n    log_max_size: 10M\n    log_max_age: 7d\n"))
	f.Add([]byte("{\"apps\": [ {,} ]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseEcosystem("fuzz.json", b, "production")
		_, _ = parseYAML("fuzz.yaml", b, "production")
	})
}

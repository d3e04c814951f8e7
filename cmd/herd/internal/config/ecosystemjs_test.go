package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/herdrun/herd/internal/testutil"

	"github.com/herdrun/herd/cmd/herd/internal/app"
)

// PM2's generated ecosystem.config.js: module.exports with the same apps as
// the JSON test file, and a computed value a JSON file cannot hold.
const ecosystemJS = `const base = { kill_timeout: 3000 };
module.exports = {
  apps: [
    { ...base, name: 'api', script: 'app.js', instances: 'max', exec_mode: 'cluster', wait_ready: true,
      max_memory_restart: '200M', env: { PORT: 8000 + 80, NODE_ENV: 'development' },
      env_production: { NODE_ENV: 'production' } },
    { name: 'cron', script: './cron.sh', args: '--every 5m', autorestart: false },
  ],
};
`

func TestLoadEcosystemJS(t *testing.T) {
	testutil.RequireNode(t)
	for _, tc := range []struct{ name, src string }{
		{"ecosystem.config.js", ecosystemJS},
		{"ecosystem.config.cjs", ecosystemJS},
		{"ecosystem.config.mjs", strings.Replace(ecosystemJS, "module.exports =", "export default", 1)},
		// A function is called for its config.
		{"fn.config.js", ecosystemJS + "const cfg = module.exports;\nmodule.exports = async () => cfg;\n"},
	} {
		apps, err := Load(writeFile(t, tc.name, tc.src, "app.js", "cron.sh"), "production")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(apps) != 2 {
			t.Errorf("%s: %d apps", tc.name, len(apps))
			continue
		}
		a := apps[0]
		if a.Name != "api" || !reflect.DeepEqual(a.Ports, []int{8080}) || a.Ready != app.ReadyMessage || a.Instances != -1 ||
			!reflect.DeepEqual(a.Env, []string{"NODE_ENV=production", "PORT=8080"}) {
			t.Errorf("%s: api = %+v", tc.name, a)
		}
		if c := apps[1]; !reflect.DeepEqual(c.Command, []string{"bash", "./cron.sh", "--every", "5m"}) || c.Restart != "never" {
			t.Errorf("%s: cron = %+v", tc.name, c)
		}
	}
}

func TestLoadEcosystemJSErrors(t *testing.T) {
	testutil.RequireNode(t)
	for _, tc := range []struct{ src, want string }{
		{"module.exports = {apps: [", "node could not load it: "},
		{"throw new Error('no config here')", "no config here"},
		{"module.exports = {apps: [{name: 'x', script: 'a.js', exec_mode: 'cluster', env: {PORT: 'http'}}]}", `app 0 (x): env.PORT: "http" is not a port number`},
		{"module.exports = {apps: []}", "no apps"},
	} {
		p := writeFile(t, "ecosystem.config.js", tc.src, "a.js")
		_, err := Load(p, "")
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(ce.Msg, tc.want) || ce.Line != 0 || !strings.HasPrefix(err.Error(), p+": ") {
			t.Errorf("%q: got %v, want %q without a line", tc.src, err, tc.want)
		}
		if strings.Contains(err.Error(), "    at ") {
			t.Errorf("%q: node's stack in the error: %v", tc.src, err)
		}
	}
}

// Package config reads the config files of `herd run -c`: herd.yaml, and
// PM2 ecosystem files in JSON or in JavaScript (evaluated by node). Each
// file maps onto []app.App, the one definition of what herd runs; a file's
// keys are its own format, and Load names the file and line of a bad one
// in a *ConfigError.
package config

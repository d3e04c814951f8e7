// Package config reads the config files of `herd run -c`: herd.yaml, and
// PM2 ecosystem files in JSON or in JavaScript (evaluated by node). Each
// file maps onto []app.App, the one definition of what herd runs; a file's
// keys are its own format, and Load names the file and line of a bad one
// in a *ConfigError.
//
// An ecosystem file is read as PM2 7 reads it (pm2.go holds what herd
// knows of PM2: its keys and aliases, its args splitting, the form of its
// env values, how it picks an interpreter), with PM2's defaults where
// herd's own differ. What herd ignores or reads differently is never
// dropped silently: each such key becomes a line of app.App.Warnings. The
// corpus under testdata/pm2 pins what herd derives from ecosystem files
// written in the styles PM2 users write, next to what PM2 7 does.
package config

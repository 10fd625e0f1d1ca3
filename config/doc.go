// Package config is the typed configuration of a NebulaIO node: one struct (Config) whose yaml
// and doc tags are the single source for the YAML keys, the command-line flags
// (--<dotted.key>=value) and the reference table in README.md (a test keeps them in step).
//
// Precedence, lowest first: Default() (a single hybrid node that bootstraps itself on 127.0.0.1
// with data in ./data), the YAML file, the NEBULAIO_* environment variables for secrets, flags.
//
// Decoding is strict. An unknown key, a value of the wrong type, a bad duration, a negative number
// and an impossible combination are each reported with the key's dotted path and, for the file,
// its line; all problems are reported at once, and a node with any of them does not start. An
// even cluster.expect_nodes is only a warning.
//
// This package imports nothing of NebulaIO's; the engine and the HTTP layer read the struct.
package config

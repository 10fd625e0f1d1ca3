package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/config"
)

// newLogger builds the process logger: human-readable on a terminal, JSON otherwise (or as
// log.format says), every line carrying node_id.
func newLogger(c config.LogConfig, nodeID string, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log.level: %w", err)
	}
	out := w
	if c.Format == "console" || (c.Format == "auto" && isTerminal(w)) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(out).Level(level).With().Timestamp().Str("node_id", nodeID).Logger(), nil
}

// isTerminal reports whether w is a terminal (a tty: not /dev/null, which is a character
// device too, nor a pipe or a file).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

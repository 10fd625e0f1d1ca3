package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/httpapi"
)

// shutdownTimeout bounds a clean stop: listeners drain for at most this long after SIGTERM.
const shutdownTimeout = 15 * time.Second

// runServer is `nebulaio server`: load and check the configuration (nothing is opened before it
// is valid), start the node, and run until SIGINT or SIGTERM.
func runServer(args []string, stdout, stderr io.Writer) int {
	cfg, warnings, code := loadConfig(args, stderr)
	if code >= 0 {
		return code
	}
	log, err := newLogger(cfg.Log, cfg.NodeID, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 2
	}
	for _, w := range warnings {
		log.Warn().Msg(w)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	n, err := startNode(cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("start failed")
		return 1
	}
	printBanner(stdout, n)

	select {
	case <-ctx.Done():
		log.Info().Msg("signal received, shutting down")
	case err := <-n.failed:
		log.Error().Err(err).Msg("listener failed, shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = n.Close(shutdownCtx)
		return 1
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := n.Close(shutdownCtx); err != nil {
		log.Error().Err(err).Msg("unclean shutdown")
		return 1
	}
	log.Info().Msg("stopped")
	return 0
}

// loadConfig applies defaults, the --config file, the environment and the flags, then validates.
// It returns code -1 to go on, or the exit code to stop with (0 after --help, 2 on bad input).
func loadConfig(args []string, stderr io.Writer) (cfg config.Config, warnings []string, code int) {
	path := configPath(args)
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return cfg, nil, 2
	}
	fs := flag.NewFlagSet("nebulaio server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "YAML configuration file (flags override its keys)")
	config.Flags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, nil, 0
		}
		return cfg, nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nebulaio: unexpected argument %q (flags are --key=value)\n", fs.Arg(0))
		return cfg, nil, 2
	}
	warnings, err = cfg.Validate()
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) && path != "" {
			ce.Source = path + " and flags"
		}
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return cfg, nil, 2
	}
	return cfg, warnings, -1
}

// configPath finds --config before the other flags are parsed, because the file's values must be
// in place before flags override them.
func configPath(args []string) string {
	for i, a := range args {
		for _, p := range []string{"--config", "-config"} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
		}
		if a == "--" {
			break
		}
	}
	return ""
}

// node is a running NebulaIO process: its listeners and what they serve.
type node struct {
	cfg     config.Config
	log     zerolog.Logger
	creds   credentials
	credsAt string

	admin     *http.Server
	adminAddr net.Addr
	failed    chan error // a listener stopped serving on its own
}

// startNode opens the data directory and starts the listeners.
func startNode(cfg config.Config, log zerolog.Logger) (*node, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	creds, credsAt, generated, err := loadCredentials(cfg)
	if err != nil {
		return nil, err
	}
	if generated {
		log.Warn().Str("file", credsAt).Msg("no credentials configured: generated new ones and stored them (mode 0600)")
	}
	n := &node{cfg: cfg, log: log, creds: creds, credsAt: credsAt, failed: make(chan error, 4)}

	reg := httpapi.NewRegistry()
	adminLn, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		return nil, fmt.Errorf("admin.address: %w", err)
	}
	n.adminAddr = adminLn.Addr()
	n.admin = httpapi.NewServer(httpapi.NewAdminHandler(httpapi.AdminOptions{Registry: reg}))
	go n.serve(n.admin, adminLn, "admin")
	log.Info().Str("admin", n.adminAddr.String()).Str("data_dir", cfg.DataDir).Str("role", cfg.Cluster.NodeRole).Msg("node started")
	return n, nil
}

func (n *node) serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		n.failed <- fmt.Errorf("%s listener: %w", name, err)
	}
}

// Close drains the listeners within ctx's deadline.
func (n *node) Close(ctx context.Context) error {
	return n.admin.Shutdown(ctx)
}

func printBanner(w io.Writer, n *node) {
	host := func(a net.Addr) string {
		h, p, _ := net.SplitHostPort(a.String())
		if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
			h = n.cfg.Cluster.AdvertiseAddress
		}
		return net.JoinHostPort(h, p)
	}
	fmt.Fprintf(w, `
NebulaIO %s — node %s (%s)
  Admin:    http://%s   (/health/live, /health/ready, /metrics)
  S3:       %s (not served by this build yet)
  AccessKey: %s
  SecretKey: %s
  AdminToken: %s
  Credentials file: %s
`, version, n.cfg.NodeID, n.cfg.Cluster.NodeRole, host(n.adminAddr), n.cfg.S3.Address,
		n.creds.AccessKey, n.creds.SecretKey, n.creds.AdminToken, n.credsAt)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/node"
)

// shutdownTimeout bounds a clean stop: listeners drain for at most this long after SIGTERM.
const shutdownTimeout = 15 * time.Second

// runServer is `nebulaio server`: load and check the configuration (nothing is opened before it
// is valid), start the node (package node), and run until SIGINT or SIGTERM.
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

	opts := node.Options{Logger: log, Version: version}
	if path := os.Getenv(testClockEnv); path != "" {
		c := &offsetClock{path: path}
		if err := c.refresh(); err != nil {
			log.Error().Err(err).Msg("start failed")
			return 2
		}
		log.Warn().Str("file", path).Msgf("%s is set: the S3 layer's wall clock is offset by the duration in the file (a test hook; never set it in production)", testClockEnv)
		go c.run(ctx, func(err error) { log.Error().Err(err).Msg("test clock: keeping the previous offset") })
		opts.Now = c.Now
	}
	n, err := node.Open(ctx, cfg, opts)
	if err != nil {
		if ctx.Err() != nil {
			// SIGINT or SIGTERM while starting (waiting for cluster.expect_nodes, say): Open
			// has stopped what it started, which is a clean shutdown.
			log.Info().Err(err).Msg("signal received while starting; stopped")
			return 0
		}
		log.Error().Err(err).Msg("start failed")
		return 1
	}
	printBanner(stdout, n)
	go reloadOnHUP(ctx, n)

	serveErr := n.Serve(ctx)
	if serveErr != nil {
		log.Error().Err(serveErr).Msg("listener failed, shutting down")
	} else {
		log.Info().Msg("signal received, shutting down")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := n.Close(shutdownCtx); err != nil && serveErr == nil {
		log.Error().Err(err).Msg("unclean shutdown")
		return 1
	}
	if serveErr != nil {
		return 1
	}
	log.Info().Msg("stopped")
	return 0
}

// reloadOnHUP reloads the listeners' TLS certificates on every SIGHUP until ctx ends (the
// node logs the outcome; a failed reload keeps the certificate in force).
func reloadOnHUP(ctx context.Context, n *node.Node) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = n.ReloadTLS()
		}
	}
}

// loadConfig applies defaults, the --config file, the environment and the flags, then validates.
// It returns code -1 to go on, or the exit code to stop with (0 after --help, 2 on bad input).
func loadConfig(args []string, stderr io.Writer) (cfg config.Config, warnings []string, code int) {
	cfg, warnings, rest, code := loadConfigWith("nebulaio server", args, stderr, nil)
	if code < 0 && len(rest) > 0 {
		fmt.Fprintf(stderr, "nebulaio: unexpected argument %q (flags are --key=value)\n", rest[0])
		return cfg, nil, 2
	}
	return cfg, warnings, code
}

// loadConfigWith is loadConfig for a command that takes flags of its own (extra registers
// them) and arguments besides the configuration keys, which it returns; flags and arguments
// may be interleaved.
func loadConfigWith(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (cfg config.Config, warnings, rest []string, code int) {
	path := configPath(args)
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return cfg, nil, nil, 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "YAML configuration file (flags override its keys)")
	config.Flags(fs, &cfg)
	if extra != nil {
		extra(fs)
	}
	if rest, err = parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, nil, nil, 0
		}
		return cfg, nil, nil, 2
	}
	warnings, err = cfg.Validate()
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) && path != "" {
			ce.Source = path + " and flags"
		}
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return cfg, nil, nil, 2
	}
	return cfg, warnings, rest, -1
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

func printBanner(w io.Writer, n *node.Node) {
	cfg, creds, origins := n.Config(), n.Credentials(), n.CredentialOrigins()
	id, created := n.Identity()
	host := func(a net.Addr) string {
		h, p, _ := net.SplitHostPort(a.String())
		if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
			h = cfg.Cluster.AdvertiseAddress
		}
		return net.JoinHostPort(h, p)
	}
	scheme := func(tls bool) string {
		if tls {
			return "https"
		}
		return "http"
	}
	s3TLS, adminTLS := n.TLS()
	s3Scheme, adminScheme := scheme(s3TLS), scheme(adminTLS)
	// The join token carries the cluster secret: printed once, by the node that generated the
	// secret, on its first start; a secret that came from the configuration or a token is
	// never printed.
	token := ""
	if created && id.Source == trust.SourceGenerated {
		token = fmt.Sprintf(`  JoinToken:  %s
              (shown once; `+"`nebulaio cluster token`"+` prints it again; it is the cluster secret)
  Join:       NEBULAIO_JOIN_TOKEN=<JoinToken> nebulaio server --cluster.join_addresses=%s ...
`, id.Token().Text(), n.GossipAddr())
	}
	secret, try := bannerSecrets(creds, origins, n.CredentialsFile())
	fmt.Fprintf(w, `
NebulaIO %s — node %s (%s)
  S3:         %s://%s   (region %s)
  Admin:      %s://%s   (/health/live, /health/ready, /metrics, /api/v1/admin/)
  Console:    %s://%s   (log in with the AdminToken)
  Raft:       %s   (mutual TLS)
  Gossip:     %s   (encrypted)
  Cluster:    %s   (secret: %s; stored in %s)
%s  AccessKey:  %s
  SecretKey:  %s
  AdminToken: %s
  IAM master key: %s
  Credentials file: %s

  Try: AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s aws --endpoint-url %s://%s s3 ls
`, version, cfg.NodeID, cfg.Cluster.NodeRole, s3Scheme, host(n.S3Addr()), cfg.S3.Region, adminScheme, host(n.AdminAddr()), adminScheme, host(n.ConsoleAddr()),
		n.RaftAddr(), n.GossipAddr(), id.ClusterID, id.Source, filepath.Join(cfg.DataDir, trust.IdentityFile), token,
		creds.AccessKey, secret["secret_key"], secret["admin_token"], secret["master_key"],
		n.CredentialsFile(), creds.AccessKey, try, s3Scheme, host(n.S3Addr()))
}

// bannerSecrets shows a secret only on the start that generated it; afterwards the banner
// names where it comes from (the configuration, or the credentials file), so that a secret
// given in the environment or read from a file never reaches the terminal or a log collector
// that captures stdout. try is what the banner's example puts for the S3 secret key.
func bannerSecrets(c node.Credentials, o node.CredentialOrigins, file string) (shown map[string]string, try string) {
	show := func(value string, origin node.Origin, what string) string {
		switch origin {
		case node.OriginGenerated:
			return value + "   (generated now: shown this once, kept in the credentials file)"
		case node.OriginStored:
			return "(generated on an earlier start; in " + file + ")"
		case node.OriginDerived:
			return "(derived from the cluster secret)"
		}
		return "(from the configuration: " + what + ")"
	}
	shown = map[string]string{
		"secret_key":  show(c.SecretKey, o.SecretKey, "s3.secret_key / NEBULAIO_SECRET_KEY"),
		"admin_token": show(c.AdminToken, o.AdminToken, "admin.token / NEBULAIO_ADMIN_TOKEN"),
		"master_key":  show(c.MasterKey, o.MasterKey, "iam.master_key / NEBULAIO_IAM_MASTER_KEY"),
	}
	try = "<secret key>"
	if o.SecretKey == node.OriginGenerated {
		try = c.SecretKey
	}
	return shown, try
}

package node

import (
	"errors"
	"fmt"

	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/internal/sse"
)

// loadSecurity loads what the S3 and admin listeners need before they start: their TLS
// certificates (s3.tls_cert_file / tls_key_file, admin.*) and the SSE-S3 keyring
// (encryption.master_key, old_master_keys). Each failure names its key; nothing is opened
// before these load.
func (n *Node) loadSecurity() error {
	cfg := n.cfg
	var err error
	if cfg.S3.TLSCertFile != "" {
		if n.s3TLS, err = httpapi.NewCertReloader(cfg.S3.TLSCertFile, cfg.S3.TLSKeyFile); err != nil {
			return fmt.Errorf("s3.tls_cert_file: %w", err)
		}
		n.log.Info().Str("certificate", n.s3TLS.Describe()).Msg("s3 listener serves HTTPS")
	}
	if cfg.Admin.TLSCertFile != "" {
		if n.adminTLS, err = httpapi.NewCertReloader(cfg.Admin.TLSCertFile, cfg.Admin.TLSKeyFile); err != nil {
			return fmt.Errorf("admin.tls_cert_file: %w", err)
		}
		n.log.Info().Str("certificate", n.adminTLS.Describe()).Msg("admin listener serves HTTPS")
	}
	if k := cfg.Encryption.MasterKey; k != "" {
		if n.keyring, err = sse.NewKeyring(k, cfg.Encryption.OldMasterKeys...); err != nil {
			return fmt.Errorf("encryption.master_key: %w", err)
		}
		// Key IDs are derived from the keys by a one-way hash: they name keys, never reveal them.
		n.log.Info().Str("current_key_id", n.keyring.CurrentID()).Strs("key_ids", n.keyring.IDs()).
			Msg("SSE-S3 master keys loaded")
	} else {
		n.log.Info().Msg("no encryption.master_key: SSE-S3 and bucket default encryption are refused")
	}
	return nil
}

// reportTLS makes the listeners' certificate reloaders report on sink.
func (n *Node) reportTLS(sink *httpapi.PromSink) {
	if n.s3TLS != nil {
		n.s3TLS.Report(sink, httpapi.MetricTLSS3Expiry)
	}
	if n.adminTLS != nil {
		n.adminTLS.Report(sink, httpapi.MetricTLSAdminExpiry)
	}
}

// ReloadTLS reloads the S3 and admin listeners' certificates from their files (what SIGHUP
// does): open connections go on, new handshakes get the new certificate. A listener whose
// files fail to load keeps its certificate; the error names it. Without TLS it does nothing.
func (n *Node) ReloadTLS() error {
	var errs []error
	for _, l := range []struct {
		name string
		r    *httpapi.CertReloader
	}{{"s3", n.s3TLS}, {"admin", n.adminTLS}} {
		if l.r == nil {
			continue
		}
		if err := l.r.Reload(); err != nil {
			n.log.Error().Err(err).Str("listener", l.name).Msg("TLS certificate reload failed; the previous certificate stays in force")
			errs = append(errs, fmt.Errorf("%s listener: %w", l.name, err))
			continue
		}
		n.log.Info().Str("listener", l.name).Str("certificate", l.r.Describe()).Msg("TLS certificate reloaded")
	}
	return errors.Join(errs...)
}

// TLS reports whether the S3 and the admin listener serve HTTPS.
func (n *Node) TLS() (s3, admin bool) { return n.s3TLS != nil, n.adminTLS != nil }

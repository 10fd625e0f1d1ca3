package node

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// CredentialsFile is where generated secrets live, inside data_dir, with mode 0600.
const CredentialsFile = "credentials.json"

// Credentials are a node's root secrets: the S3 root key pair, the admin API token and, when
// configured, the master key sealing users' secrets (iam.master_key, base64; empty: derived
// from the cluster secret).
type Credentials struct {
	AccessKey  string `json:"access_key"`
	SecretKey  string `json:"secret_key"`
	AdminToken string `json:"admin_token"`
	MasterKey  string `json:"iam_master_key,omitempty"`
}

// Origin says where a secret came from at this start.
type Origin string

// Origins of secrets. Only a secret generated at this start is ever printed (the banner); one
// configured or stored is named by its origin.
const (
	OriginConfigured Origin = "configuration" // the file, a flag or the environment
	OriginStored     Origin = "stored"        // data_dir/credentials.json, generated on an earlier start
	OriginGenerated  Origin = "generated"     // generated now and stored in data_dir/credentials.json
	OriginDerived    Origin = "derived"       // derived from the cluster secret (iam master key)
)

// CredentialOrigins are the origins of a node's secrets at this start.
type CredentialOrigins struct {
	AccessKey, SecretKey, AdminToken, MasterKey Origin
}

// ReadCredentials reads data_dir/credentials.json as a node stored it.
func ReadCredentials(dataDir string) (Credentials, error) {
	var c Credentials
	path := filepath.Join(dataDir, CredentialsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("credentials: %s is not valid JSON: %w", path, err)
	}
	return c, nil
}

// loadCredentials resolves the root secrets. A secret from the configuration (file, environment
// or flag) wins; a missing one is read from data_dir/credentials.json, or generated and stored
// there (atomically, mode 0600) on first start, so a restart keeps the same keys.
func loadCredentials(cfg config.Config) (c Credentials, origins CredentialOrigins, path string, generated bool, err error) {
	path = filepath.Join(cfg.DataDir, CredentialsFile)
	stored, err := ReadCredentials(cfg.DataDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return c, origins, path, false, err
	}
	pick := func(configured, saved string, origin *Origin, gen func() string) string {
		if configured != "" {
			*origin = OriginConfigured
			return configured
		}
		if saved != "" {
			*origin = OriginStored
			return saved
		}
		generated = true
		*origin = OriginGenerated
		return gen()
	}
	c.AccessKey = pick(cfg.S3.AccessKey, stored.AccessKey, &origins.AccessKey, func() string { return randomString(20, upperAlnum) })
	c.SecretKey = pick(cfg.S3.SecretKey, stored.SecretKey, &origins.SecretKey, func() string { return randomString(40, alnum) })
	c.AdminToken = pick(cfg.Admin.Token, stored.AdminToken, &origins.AdminToken, func() string { return randomString(40, alnum) })
	// The iam master key is never generated here: without one configured (or stored by an
	// earlier build), openKeyring derives it from the cluster secret.
	switch {
	case cfg.IAM.MasterKey != "":
		c.MasterKey, origins.MasterKey = cfg.IAM.MasterKey, OriginConfigured
	case stored.MasterKey != "":
		c.MasterKey, origins.MasterKey = stored.MasterKey, OriginStored
	}
	if !generated {
		return c, origins, path, false, nil
	}
	// Store only what was not configured, so a secret given in the environment is never written.
	toStore := stored
	if cfg.S3.AccessKey == "" {
		toStore.AccessKey = c.AccessKey
	}
	if cfg.S3.SecretKey == "" {
		toStore.SecretKey = c.SecretKey
	}
	if cfg.Admin.Token == "" {
		toStore.AdminToken = c.AdminToken
	}
	out, _ := json.MarshalIndent(toStore, "", "  ")
	if err := vfs.WriteFile(vfs.OS, path, append(out, '\n'), 0o600); err != nil {
		return c, origins, path, false, fmt.Errorf("credentials: %w", err)
	}
	return c, origins, path, true, nil
}

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	buf := make([]byte, 1)
	for i := range b {
		for {
			_, _ = rand.Read(buf) // crypto/rand.Read never fails on Linux (Go ≥ 1.24 panics instead)
			if int(buf[0]) < 256-256%len(alphabet) {
				b[i] = alphabet[int(buf[0])%len(alphabet)]
				break
			}
		}
	}
	return string(b)
}

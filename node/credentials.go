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

// Credentials are a node's root secrets: the S3 root key pair and the admin API token.
type Credentials struct {
	AccessKey  string `json:"access_key"`
	SecretKey  string `json:"secret_key"`
	AdminToken string `json:"admin_token"`
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
func loadCredentials(cfg config.Config) (c Credentials, path string, generated bool, err error) {
	path = filepath.Join(cfg.DataDir, CredentialsFile)
	stored, err := ReadCredentials(cfg.DataDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return c, path, false, err
	}
	pick := func(configured, saved string, gen func() string) string {
		if configured != "" {
			return configured
		}
		if saved != "" {
			return saved
		}
		generated = true
		return gen()
	}
	c.AccessKey = pick(cfg.S3.AccessKey, stored.AccessKey, func() string { return randomString(20, upperAlnum) })
	c.SecretKey = pick(cfg.S3.SecretKey, stored.SecretKey, func() string { return randomString(40, alnum) })
	c.AdminToken = pick(cfg.Admin.Token, stored.AdminToken, func() string { return randomString(40, alnum) })
	if !generated {
		return c, path, false, nil
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
		return c, path, false, fmt.Errorf("credentials: %w", err)
	}
	return c, path, true, nil
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

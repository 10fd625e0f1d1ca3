package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nebulaio/nebulaio/config"
)

// credentialsFile is where generated secrets live, inside data_dir, with mode 0600.
const credentialsFile = "credentials.json"

// credentials are the node's root secrets.
type credentials struct {
	AccessKey  string `json:"access_key"`
	SecretKey  string `json:"secret_key"`
	AdminToken string `json:"admin_token"`
}

// loadCredentials resolves the root secrets. A secret from the configuration (file, environment
// or flag) wins; a missing one is read from data_dir/credentials.json, or generated and stored
// there (atomically, mode 0600) on first start, so a restart keeps the same keys.
func loadCredentials(cfg config.Config) (c credentials, path string, generated bool, err error) {
	path = filepath.Join(cfg.DataDir, credentialsFile)
	var stored credentials
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &stored); err != nil {
			return c, path, false, fmt.Errorf("credentials: %s is not valid JSON: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return c, path, false, fmt.Errorf("credentials: %w", err)
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
	if err := writeFileAtomic(path, append(out, '\n'), 0o600); err != nil {
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

// writeFileAtomic writes data to a temporary file, syncs it, renames it over path and syncs the
// directory, so a crash leaves either the old file or the new one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

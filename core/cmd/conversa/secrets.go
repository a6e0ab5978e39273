package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/secrets"
	"github.com/conversa/conversa/core/store"
)

// secretKey loads the key that encrypts the channels' secrets at rest for
// the server: CONVERSA_SECRET_KEY, else [security] key_file, generated when
// the database holds no secret encrypted yet. A key that did not encrypt
// the stored secrets stops the start with what to do: the server never
// runs on secrets it cannot read, nor seals new ones under a second key.
func secretKey(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*secrets.Key, error) {
	ids, err := engine.SecretKeyIDs(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("reading the stored secrets: %w", err)
	}
	path, env := cfg.Security.KeyFile, os.Getenv(secrets.EnvVar)
	key, generated, err := secrets.Load(path, env, len(ids) == 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the database holds secrets encrypted with key %s, but there is no key file at %s "+
			"(and %s is not set): restore the key file kept with this database's backup%s",
			strings.Join(ids, ", "), path, secrets.EnvVar, keyHint(path, ids))
	}
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if generated {
		log.Info("secret key generated: back it up apart from the database, which cannot be read without it",
			"key_file", path, "key", key.ID())
	} else if env == "" {
		if err := secrets.CheckMode(path); err != nil {
			log.Warn(err.Error())
		}
	}
	var others []string
	for _, id := range ids {
		if id != key.ID() {
			others = append(others, id)
		}
	}
	if len(others) > 0 {
		return nil, fmt.Errorf("the database's secrets were encrypted with key %s, but the key from %s is %s: "+
			"start with the key they were encrypted with (kept with this database's backup; every node sharing a "+
			"database needs the same key, in its key file or %s)%s",
			strings.Join(others, ", "), key.Source(), key.ID(), secrets.EnvVar, keyHint(path, others))
	}
	return key, nil
}

// keyHint names a key file beside path that holds one of the wanted keys:
// the new key of a rotation interrupted before it was put in place, or the
// backup a rotation kept.
func keyHint(path string, want []string) string {
	var cands []string
	cands = append(cands, path+".new")
	for _, id := range want {
		cands = append(cands, backupPath(path, id))
	}
	for _, c := range cands {
		if k, err := secrets.ReadFile(c); err == nil && slices.Contains(want, k.ID()) {
			return fmt.Sprintf("; %s holds key %s: move it to %s", c, k.ID(), path)
		}
	}
	return ""
}

// backupPath is where a rotation keeps the key it replaced.
func backupPath(path, id string) string { return path + "." + id + ".old" }

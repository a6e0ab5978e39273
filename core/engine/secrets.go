package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/secrets"
	"github.com/conversa/conversa/core/store"
)

// The integrations' secret settings are encrypted in the store and clear
// only in memory (the registry, the plugin calls): every write goes
// through sealed and every read through opened.

// secretSetting reports whether a setting is kept encrypted: the channel's
// secrets and generated webhook credentials. While the channel cannot say
// (its plugin is down), every text setting is.
func secretSetting(info *pluginhost.ChannelInfo, key string) bool {
	return info == nil || slices.Contains(info.SecretSettings, key) || slices.Contains(info.GeneratedSettings, key)
}

// sealed returns the row to store for in: its secret settings encrypted. A
// value that looks encrypted already is encrypted again (it came from a
// person, so it is clear text), so that reading it back gives it as given.
// info nil: the channel's cached description, if any.
func (e *Engine) sealed(in *model.Integration, info *pluginhost.ChannelInfo) (*model.Integration, error) {
	key := e.o.Secrets
	if key == nil {
		return in, nil
	}
	if info == nil {
		info, _ = e.channels.cached(in.Channel)
	}
	out := *in
	out.Settings = maps.Clone(in.Settings)
	for k, v := range in.Settings {
		s, ok := v.(string)
		if !ok || s == "" || !(secretSetting(info, k) || secrets.IsSealed(s)) {
			continue
		}
		enc, err := key.Seal(s, secrets.ForSetting(in.ID, k))
		if err != nil {
			return nil, fmt.Errorf("encrypting setting %s: %w", k, err)
		}
		out.Settings[k] = enc
	}
	return &out, nil
}

// opened decrypts a row read from the store, in place.
func (e *Engine) opened(in *model.Integration) error {
	for k, v := range in.Settings {
		s, ok := v.(string)
		if !ok || !secrets.IsSealed(s) {
			continue
		}
		if e.o.Secrets == nil {
			return fmt.Errorf("integration %s: setting %s is encrypted and no key was given", in.ID, k)
		}
		plain, err := e.o.Secrets.Open(s, secrets.ForSetting(in.ID, k))
		if err != nil {
			return fmt.Errorf("integration %s: setting %s: %w", in.ID, k, err)
		}
		in.Settings[k] = plain
	}
	return nil
}

// putSealed writes in (clear in memory) encrypted in tx.
func (e *Engine) putSealed(ctx context.Context, tx store.Tx, in *model.Integration, info *pluginhost.ChannelInfo) error {
	row, err := e.sealed(in, info)
	if err != nil {
		return err
	}
	if err := tx.Integrations().Put(ctx, row); err != nil {
		return err
	}
	in.CreatedAt, in.UpdatedAt = row.CreatedAt, row.UpdatedAt
	return nil
}

// SealStored encrypts the secret settings still stored in clear (written
// before they were encrypted at rest), in one transaction; it reports how
// many integrations it rewrote. Run at start, after the plugins: it is a
// no-op once done.
func (e *Engine) SealStored(ctx context.Context) (int, error) {
	if e.o.Secrets == nil {
		return 0, nil
	}
	ins, err := e.st.Integrations().List(ctx)
	if err != nil {
		return 0, err
	}
	// Described before the transaction: no plugin is called inside one.
	infos := map[string]*pluginhost.ChannelInfo{}
	for _, in := range ins {
		if _, seen := infos[in.Channel]; !seen {
			infos[in.Channel], _ = e.channelInfo(ctx, in.Channel)
		}
	}
	var n int
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		n = 0
		ins, err := tx.Integrations().List(ctx)
		if err != nil {
			return err
		}
		for _, in := range ins {
			if !hasClearSecret(in, infos[in.Channel]) {
				continue
			}
			if err := e.opened(in); err != nil {
				return err
			}
			if err := e.putSealed(ctx, tx, in, infos[in.Channel]); err != nil {
				return fmt.Errorf("integration %s: %w", in.ID, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

func hasClearSecret(in *model.Integration, info *pluginhost.ChannelInfo) bool {
	for k, v := range in.Settings {
		if s, ok := v.(string); ok && s != "" && secretSetting(info, k) && !secrets.IsSealed(s) {
			return true
		}
	}
	return false
}

// RotateSecrets encrypts every stored secret again under to, in one
// transaction: each value sealed by from is opened and sealed by to; one
// sealed by to already (a rotation run again after it was interrupted) is
// kept. It reports how many values it re-encrypted. Nothing is changed when
// any value opens with neither key.
func RotateSecrets(ctx context.Context, st store.Store, from, to *secrets.Key) (int, error) {
	var n int
	err := st.Tx(ctx, func(tx store.Tx) error {
		n = 0
		ins, err := tx.Integrations().List(ctx)
		if err != nil {
			return err
		}
		for _, in := range ins {
			changed := false
			for k, v := range in.Settings {
				s, ok := v.(string)
				if !ok || !secrets.IsSealed(s) {
					continue
				}
				if id, _ := secrets.KeyIDOf(s); id == to.ID() {
					if _, err := to.Open(s, secrets.ForSetting(in.ID, k)); err != nil {
						return fmt.Errorf("integration %s: setting %s: %w", in.ID, k, err)
					}
					continue
				}
				plain, err := from.Open(s, secrets.ForSetting(in.ID, k))
				if err != nil {
					return fmt.Errorf("integration %s: setting %s: %w", in.ID, k, err)
				}
				if in.Settings[k], err = to.Seal(plain, secrets.ForSetting(in.ID, k)); err != nil {
					return err
				}
				changed = true
				n++
			}
			if changed {
				if err := tx.Integrations().Put(ctx, in); err != nil {
					return fmt.Errorf("integration %s: %w", in.ID, err)
				}
			}
		}
		return nil
	})
	return n, err
}

// SecretKeyIDs lists the ids of the keys that sealed the stored secrets:
// what a key must be to open them (empty: none is stored yet).
func SecretKeyIDs(ctx context.Context, st store.Store) ([]string, error) {
	ins, err := st.Integrations().List(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, in := range ins {
		for _, v := range in.Settings {
			if s, ok := v.(string); ok {
				if id, ok := secrets.KeyIDOf(s); ok && !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}

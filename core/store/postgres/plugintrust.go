package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/store"
)

type pluginTrust struct{ h h }

var _ store.PluginTrust = pluginTrust{}

func scanPin(r pgx.Row) (*store.PluginPin, error) {
	var p store.PluginPin
	var at int64
	if err := r.Scan(&p.Name, &p.SHA256, &at); err != nil {
		return nil, notFound(err)
	}
	p.TrustedAt = fromMS(at)
	return &p, nil
}

func (x pluginTrust) Trust(ctx context.Context, name, sha256 string) error {
	return x.h.write(ctx, func(t *txn) error {
		_, err := t.tx.Exec(ctx, `INSERT INTO plugin_trust (name, sha256, trusted_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, trusted_at = excluded.trusted_at`,
			name, sha256, ms(t.now))
		return err
	})
}

func (x pluginTrust) Untrust(ctx context.Context, name string) error {
	return x.h.write(ctx, func(t *txn) error {
		return affectOne(ctx, t.tx, `DELETE FROM plugin_trust WHERE name = $1`, name)
	})
}

func (x pluginTrust) Pin(ctx context.Context, name string) (*store.PluginPin, error) {
	return scanPin(x.h.q().QueryRow(ctx, `SELECT name, sha256, trusted_at FROM plugin_trust WHERE name = $1`, name))
}

func (x pluginTrust) Pins(ctx context.Context) ([]*store.PluginPin, error) {
	return collect(scanPin)(x.h.q().Query(ctx, `SELECT name, sha256, trusted_at FROM plugin_trust ORDER BY name`))
}

package sqlite

import (
	"context"

	"github.com/conversa/conversa/core/store"
)

type pluginTrust struct{ h }

var _ store.PluginTrust = pluginTrust{}

func scanPin(r scanner) (*store.PluginPin, error) {
	var p store.PluginPin
	var at int64
	if err := r.Scan(&p.Name, &p.SHA256, &at); err != nil {
		return nil, notFound(err)
	}
	p.TrustedAt = fromMS(at)
	return &p, nil
}

func (x pluginTrust) Trust(ctx context.Context, name, sha256 string) error {
	return x.write(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(ctx, `INSERT INTO plugin_trust (name, sha256, trusted_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, trusted_at = excluded.trusted_at`,
			name, sha256, ms(t.now))
		return err
	})
}

func (x pluginTrust) Untrust(ctx context.Context, name string) error {
	return x.exec(ctx, `DELETE FROM plugin_trust WHERE name = ?`, name)
}

func (x pluginTrust) Pin(ctx context.Context, name string) (*store.PluginPin, error) {
	return scanPin(x.q().QueryRowContext(ctx, `SELECT name, sha256, trusted_at FROM plugin_trust WHERE name = ?`, name))
}

func (x pluginTrust) Pins(ctx context.Context) ([]*store.PluginPin, error) {
	return collect(scanPin)(x.q().QueryContext(ctx, `SELECT name, sha256, trusted_at FROM plugin_trust ORDER BY name`))
}

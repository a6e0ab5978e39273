package sqlite

import (
	"context"
	"time"

	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/dbutil"
)

type audit struct{ h }

const auditCols = `id, at, actor, action, target, ip, detail`

func scanAudit(r scanner) (*store.AuditEntry, error) {
	var e store.AuditEntry
	var at int64
	if err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.IP, &e.Detail); err != nil {
		return nil, err
	}
	e.At = fromMS(at)
	return &e, nil
}

func (x audit) Add(ctx context.Context, e *store.AuditEntry) error {
	return x.write(ctx, func(t *txn) error {
		err := t.tx.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor, action, target, ip, detail)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, ms(t.now), e.Actor, e.Action, e.Target, e.IP, e.Detail).Scan(&e.ID)
		if err != nil {
			return err
		}
		e.At = t.now
		return nil
	})
}

func (x audit) List(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	q, args := auditQuery(f)
	return collect(scanAudit)(x.q().QueryContext(ctx, q, args...))
}

// auditQuery is List's statement: audit_log_at, newest first.
func auditQuery(f store.AuditFilter) (string, []any) {
	q := `SELECT ` + auditCols + ` FROM audit_log WHERE 1 = 1`
	var args []any
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		q += ` AND (action = ? OR substr(action, 1, ?) = ?)`
		args = append(args, f.Action, len(f.Action)+1, f.Action+".")
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	return q, append(args, store.LogLimit(f.Limit))
}

var _ store.Audit = audit{}

type deliveries struct{ h }

const (
	deliveryFields = `integration, at, direction, message_id, message_ids, outcome, http_status, latency_ms, error, detail`
	deliveryCols   = `id, ` + deliveryFields
)

func scanDelivery(r scanner) (*store.Delivery, error) {
	var d store.Delivery
	var at int64
	var ids, detail string
	if err := r.Scan(&d.ID, &d.Integration, &at, &d.Direction, &d.MessageID, &ids, &d.Outcome, &d.HTTPStatus,
		&d.LatencyMS, &d.Error, &detail); err != nil {
		return nil, err
	}
	d.At, d.ProviderMessageIDs = fromMS(at), dbutil.SplitIDs(ids)
	if detail != "" {
		d.Detail = []byte(detail)
	}
	return &d, nil
}

func (x deliveries) Add(ctx context.Context, ds ...*store.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	return x.write(ctx, func(t *txn) error {
		// Exec and LastInsertId, not RETURNING: a query costs the driver
		// several times an exec, on the path of every webhook.
		for _, d := range ds {
			at := d.At
			if at.IsZero() {
				at = t.now
			}
			res, err := t.tx.ExecContext(ctx, `INSERT INTO deliveries (`+deliveryFields+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				d.Integration, ms(at), d.Direction, d.MessageID, dbutil.JoinIDs(d.ProviderMessageIDs), d.Outcome,
				d.HTTPStatus, d.LatencyMS, d.Error, string(d.Detail))
			if err != nil {
				return err
			}
			if d.ID, err = res.LastInsertId(); err != nil {
				return err
			}
			d.At = at
		}
		return nil
	})
}

func (x deliveries) List(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	q, args := deliveriesQuery(f)
	return collect(scanDelivery)(x.q().QueryContext(ctx, q, args...))
}

// deliveriesQuery is List's statement: deliveries_integration_at, newest
// first (the log keeps delivery_log_days of them).
func deliveriesQuery(f store.DeliveryFilter) (string, []any) {
	q := `SELECT ` + deliveryCols + ` FROM deliveries WHERE integration = ?`
	args := []any{f.Integration}
	if f.MessageID != "" {
		q += ` AND (message_id = ? OR instr(message_ids, ?) > 0)`
		args = append(args, f.MessageID, " "+f.MessageID+" ")
	}
	if f.Outcome != "" {
		q += ` AND outcome = ?`
		args = append(args, f.Outcome)
	}
	if f.Direction != "" {
		q += ` AND direction = ?`
		args = append(args, f.Direction)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	return q, append(args, store.LogLimit(f.Limit))
}

func (x deliveries) Prune(ctx context.Context, cutoff time.Time, max int) (int64, error) {
	var n int64
	err := x.write(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM deliveries WHERE id IN
			(SELECT id FROM (SELECT id, at FROM deliveries ORDER BY id LIMIT ?) WHERE at < ?)`, max, ms(cutoff))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

var _ store.Deliveries = deliveries{}

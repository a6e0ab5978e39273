package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/dbutil"
)

type audit struct{ h h }

const auditCols = `id, at, actor, action, target, ip, detail`

func scanAudit(r pgx.Row) (*store.AuditEntry, error) {
	var e store.AuditEntry
	var at int64
	if err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.IP, &e.Detail); err != nil {
		return nil, err
	}
	e.At = fromMS(at)
	return &e, nil
}

func (x audit) Add(ctx context.Context, e *store.AuditEntry) error {
	return x.h.write(ctx, func(t *txn) error {
		err := t.tx.QueryRow(ctx, `INSERT INTO audit_log (at, actor, action, target, ip, detail)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, ms(t.now), e.Actor, e.Action, e.Target, e.IP, e.Detail).Scan(&e.ID)
		if err != nil {
			return err
		}
		e.At = t.now
		return nil
	})
}

func (x audit) List(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	var a args
	q := `SELECT ` + auditCols + ` FROM audit_log WHERE true`
	if f.Actor != "" {
		q += ` AND actor = ` + a.add(f.Actor)
	}
	if f.Action != "" {
		q += ` AND (action = ` + a.add(f.Action) + ` OR starts_with(action, ` + a.add(f.Action+".") + `))`
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ` + a.add(store.LogLimit(f.Limit))
	return collect(scanAudit)(x.h.q().Query(ctx, q, a...))
}

var _ store.Audit = audit{}

type deliveries struct{ h h }

const (
	deliveryFields = `integration, at, direction, message_id, message_ids, outcome, http_status, latency_ms, error, detail`
	deliveryCols   = `id, ` + deliveryFields
)

func scanDelivery(r pgx.Row) (*store.Delivery, error) {
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
	return x.h.write(ctx, func(t *txn) error {
		// One round trip for the lot: the engine's delivery writer hands
		// over a batch at a time.
		b := &pgx.Batch{}
		ats := make([]time.Time, len(ds))
		for i, d := range ds {
			ats[i] = d.At
			if ats[i].IsZero() {
				ats[i] = t.now
			}
			b.Queue(`INSERT INTO deliveries (`+deliveryFields+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
				d.Integration, ms(ats[i]), d.Direction, d.MessageID, dbutil.JoinIDs(d.ProviderMessageIDs),
				d.Outcome, d.HTTPStatus, d.LatencyMS, d.Error, string(d.Detail))
		}
		br := t.tx.SendBatch(ctx, b)
		for i, d := range ds {
			if err := br.QueryRow().Scan(&d.ID); err != nil {
				br.Close()
				return err
			}
			d.At = ats[i]
		}
		return br.Close()
	})
}

func (x deliveries) List(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	var a args
	q := `SELECT ` + deliveryCols + ` FROM deliveries WHERE integration = ` + a.add(f.Integration)
	if f.MessageID != "" {
		q += ` AND (message_id = ` + a.add(f.MessageID) + ` OR strpos(message_ids, ` + a.add(" "+f.MessageID+" ") + `) > 0)`
	}
	if f.Outcome != "" {
		q += ` AND outcome = ` + a.add(f.Outcome)
	}
	if f.Direction != "" {
		q += ` AND direction = ` + a.add(f.Direction)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ` + a.add(store.LogLimit(f.Limit))
	return collect(scanDelivery)(x.h.q().Query(ctx, q, a...))
}

func (x deliveries) Prune(ctx context.Context, cutoff time.Time, max int) (int64, error) {
	var n int64
	err := x.h.write(ctx, func(t *txn) error {
		tag, err := t.tx.Exec(ctx, `DELETE FROM deliveries WHERE id IN
			(SELECT id FROM (SELECT id, at FROM deliveries ORDER BY id LIMIT $1) head WHERE at < $2)`, max, ms(cutoff))
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

var _ store.Deliveries = deliveries{}

package sqlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

const commandCols = `c.id, h.uuid, c.kind, c.args, c.actor, c.status, c.created_at, c.sent_at, c.finished_at, c.result, c.error,
	c.acked_at, c.deliveries`

func (c *Common) scanCommand(r Row) (store.Command, error) {
	var x store.Command
	err := r.Scan(&x.ID, &x.HostUUID, &x.Kind, &x.Args, &x.Actor, &x.Status, c.D.ScanTime(&x.CreatedAt),
		c.D.ScanTime(&x.SentAt), c.D.ScanTime(&x.FinishedAt), &x.Result, &x.Error, c.D.ScanTime(&x.AckedAt), &x.Deliveries)
	return x, err
}

// lockHost returns the row id of the host and, where the dialect locks rows, locks it
// for the transaction: reports and commands of one host are serialised.
func (c *Common) lockHost(ctx context.Context, tx Conn, uuid string) (int64, error) {
	var pk int64
	err := tx.QueryRow(ctx, `SELECT id FROM hosts WHERE uuid = ?`+c.D.LockRow, uuid).Scan(&pk)
	if errors.Is(err, ErrNoRows) {
		return 0, NotFound("host " + uuid)
	}
	if err != nil {
		return 0, fmt.Errorf("look up host %s: %w", uuid, err)
	}
	return pk, nil
}

// QueueCommand queues a command, or returns the same pending one.
func (c *Common) QueueCommand(ctx context.Context, x store.Command) (store.Command, error) {
	if err := x.Kind.Validate(); err != nil {
		return x, c.errf(err, "queue command")
	}
	var out store.Command
	err := c.DB.Write(ctx, func(tx Conn) error {
		pk, err := c.lockHost(ctx, tx, x.HostUUID)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRow(ctx, `SELECT id FROM commands WHERE host_pk = ? AND status = 'pending' AND kind = ? AND args = ?
			ORDER BY id LIMIT 1`, pk, string(x.Kind), x.Args).Scan(&id)
		if errors.Is(err, ErrNoRows) {
			err = tx.QueryRow(ctx, `INSERT INTO commands (host_pk, kind, args, actor, status, created_at)
				VALUES (?, ?, ?, ?, 'pending', ?) RETURNING id`, pk, string(x.Kind), x.Args, x.Actor, c.TimeZArg(x.CreatedAt)).Scan(&id)
		}
		if err != nil {
			return err
		}
		out, err = c.scanCommand(tx.QueryRow(ctx, `SELECT `+commandCols+` FROM commands c JOIN hosts h ON h.id = c.host_pk WHERE c.id = ?`, id))
		return err
	})
	return out, c.errf(err, "queue %s command for host %s", x.Kind, x.HostUUID)
}

// FetchCommands returns the commands to deliver to a host and marks them sent. The host
// row lock (or the single writer) keeps two concurrent polls from getting one command.
func (c *Common) FetchCommands(ctx context.Context, hostUUID string, at time.Time, redeliverAfter time.Duration) ([]store.Command, error) {
	if redeliverAfter <= 0 {
		redeliverAfter = store.DefaultRedeliverAfter
	}
	var out []store.Command
	err := c.DB.Write(ctx, func(tx Conn) error {
		pk, err := c.lockHost(ctx, tx, hostUUID)
		if err != nil {
			return err
		}
		out, err = QueryAll(ctx, tx, c.scanCommand, `SELECT `+commandCols+` FROM commands c JOIN hosts h ON h.id = c.host_pk
			WHERE c.host_pk = ? AND (c.status = 'pending' OR (c.status = 'sent' AND c.acked_at IS NULL AND c.sent_at <= ?))
			ORDER BY c.id`, pk, c.TimeZArg(at.Add(-redeliverAfter)))
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]int64, len(out))
		for i := range out {
			ids[i] = out[i].ID
			out[i].Status, out[i].SentAt = store.CommandSent, at.UTC()
			out[i].Deliveries++
		}
		in, args := In(ids)
		_, err = tx.Exec(ctx, `UPDATE commands SET status = 'sent', sent_at = ?, deliveries = deliveries + 1 WHERE id IN `+in,
			append([]any{c.TimeArg(at)}, args...)...)
		return err
	})
	if err != nil {
		return nil, c.errf(err, "fetch commands of host %s", hostUUID)
	}
	return out, nil
}

// AckCommand records that the host received the command.
func (c *Common) AckCommand(ctx context.Context, hostUUID string, id int64, at time.Time) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("command %d of host %s", id, hostUUID),
			`UPDATE commands SET acked_at = coalesce(acked_at, ?) WHERE id = ? AND host_pk = (SELECT id FROM hosts WHERE uuid = ?)`,
			c.TimeArg(at), id, hostUUID)
	})
	return c.errf(err, "acknowledge command")
}

// CompleteCommand records the result of a command; a finished command keeps its first.
func (c *Common) CompleteCommand(ctx context.Context, hostUUID string, id int64, at time.Time, result, errText string) error {
	status := store.CommandDone
	if errText != "" {
		status = store.CommandFailed
	}
	err := c.DB.Write(ctx, func(tx Conn) error {
		n, err := tx.Exec(ctx, `UPDATE commands SET status = ?, finished_at = ?, result = ?, error = ?, acked_at = coalesce(acked_at, ?)
			WHERE id = ? AND host_pk = (SELECT id FROM hosts WHERE uuid = ?) AND status NOT IN ('done', 'failed')`,
			string(status), c.TimeArg(at), result, errText, c.TimeArg(at), id, hostUUID)
		if err != nil || n > 0 {
			return err
		}
		var found int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM commands WHERE id = ? AND host_pk = (SELECT id FROM hosts WHERE uuid = ?)`,
			id, hostUUID).Scan(&found); err != nil {
			return err
		}
		if found == 0 {
			return NotFound(fmt.Sprintf("command %d of host %s", id, hostUUID))
		}
		return nil // finished already: the first result stays
	})
	return c.errf(err, "complete command")
}

// ListCommands returns a host's most recent commands.
func (c *Common) ListCommands(ctx context.Context, hostUUID string, limit int) ([]store.Command, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), c.scanCommand, `SELECT `+commandCols+` FROM commands c JOIN hosts h ON h.id = c.host_pk
		WHERE h.uuid = ? ORDER BY c.id DESC LIMIT ?`, hostUUID, store.PageLimit(limit, 50, 1000))
	return out, c.errf(err, "list commands of host %s", hostUUID)
}

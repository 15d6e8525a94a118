package sim

import (
	"context"
	"testing"
	"time"
)

type restartCounter struct{ n int }

func (r *restartCounter) Reboot(context.Context) error { r.n++; return nil }

func TestDesktopRecordsMessagesAndAnswers(t *testing.T) {
	ctx := context.Background()
	host := &restartCounter{}
	d := NewDesktop(host)
	// Nobody logged on: nothing shown, nothing answered.
	if on, _ := d.LoggedOn(ctx); on {
		t.Fatal("logged on by default")
	}
	if answered, _, err := d.Notify(ctx, "t", "x", time.Minute, true); answered || err != nil || len(d.Messages()) != 0 {
		t.Fatalf("nobody logged on: answered %v, err %v, messages %v", answered, err, d.Messages())
	}
	d.SetLoggedOn(true)
	d.Script(AnswerNo, AnswerYes)
	checks := []struct {
		question           bool
		answered, declined bool
	}{
		{false, false, false}, // a notice takes no answer
		{true, true, true},    // No
		{true, true, false},   // Yes
		{true, false, false},  // script exhausted: no answer
	}
	for i, c := range checks {
		answered, declined, err := d.Notify(ctx, "Restart", "text", time.Minute, c.question)
		if err != nil || answered != c.answered || declined != c.declined {
			t.Errorf("message %d: answered %v declined %v err %v", i, answered, declined, err)
		}
	}
	m := d.Messages()
	if len(m) != 4 || m[0].Question || m[1].Answer != AnswerNo || m[2].Answer != AnswerYes || m[3].Answer != AnswerNone || m[1].Timeout != time.Minute {
		t.Errorf("messages %+v", m)
	}
	if err := d.Restart(ctx, "updates"); err != nil || host.n != 1 || len(d.Restarts()) != 1 || d.Restarts()[0].Reason != "updates" {
		t.Errorf("restart: %v, host restarts %d, %v", err, host.n, d.Restarts())
	}
	if err := d.Restart(ctx, ""); err == nil {
		t.Error("restart without a reason accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := d.Notify(cancelled, "t", "x", 0, false); err == nil {
		t.Error("notify with a cancelled context")
	}
}

package sim

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Desktop simulates the users logged on to a host and the host's restarts, for the
// agent's Notifier and Rebooter ports: it records every message shown and every
// restart asked, and answers questions as scripted.
type Desktop struct {
	mu       sync.Mutex
	host     Restartable
	loggedOn bool
	answers  []Answer
	messages []Message
	restarts []Restart
}

// Answer is a scripted answer to a question: Yes, No, or none (the user is away).
type Answer int

// Answers.
const (
	AnswerNone Answer = iota // nobody answers before the timeout
	AnswerYes
	AnswerNo
)

// Message is a message shown to the logged-on users.
type Message struct {
	Title, Text string
	Timeout     time.Duration
	Question    bool   // Yes / No asked
	Answer      Answer // what was answered
}

// Restart is a restart the agent asked for.
type Restart struct{ Reason string }

// Restartable is a simulated host whose pending restart a restart does (*Host).
type Restartable interface {
	Reboot(ctx context.Context) error
}

// NewDesktop returns a desktop nobody is logged on to; host (may be nil) is restarted
// by Restart (its pending restart is done).
func NewDesktop(host Restartable) *Desktop { return &Desktop{host: host} }

// SetLoggedOn logs a user on or off.
func (d *Desktop) SetLoggedOn(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loggedOn = on
}

// Script queues the answers of the next questions (then AnswerNone).
func (d *Desktop) Script(answers ...Answer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answers = append(d.answers, answers...)
}

// LoggedOn implements the agent's Notifier.
func (d *Desktop) LoggedOn(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.loggedOn, nil
}

// Notify implements the agent's Notifier: it records the message; a question takes the
// next scripted answer. Nobody logged on sees nothing and answers nothing.
func (d *Desktop) Notify(ctx context.Context, title, text string, timeout time.Duration, mayDecline bool) (answered, declined bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loggedOn {
		return false, false, nil
	}
	m := Message{Title: title, Text: text, Timeout: timeout, Question: mayDecline}
	if mayDecline && len(d.answers) > 0 {
		m.Answer, d.answers = d.answers[0], d.answers[1:]
	}
	d.messages = append(d.messages, m)
	return m.Answer != AnswerNone, m.Answer == AnswerNo, nil
}

// Restart implements the agent's Rebooter: recorded, and the host's pending restart is
// done.
func (d *Desktop) Restart(ctx context.Context, reason string) error {
	if reason == "" {
		return fmt.Errorf("sim: restart without a reason")
	}
	d.mu.Lock()
	d.restarts = append(d.restarts, Restart{Reason: reason})
	h := d.host
	d.mu.Unlock()
	if h != nil {
		return h.Reboot(ctx)
	}
	return nil
}

// Messages returns the messages shown so far.
func (d *Desktop) Messages() []Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Message(nil), d.messages...)
}

// Restarts returns the restarts asked so far.
func (d *Desktop) Restarts() []Restart {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Restart(nil), d.restarts...)
}

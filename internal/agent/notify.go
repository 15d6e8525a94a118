package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/schedule"
)

// Notifier tells the users logged on to the host about reboots and the install at
// shutdown (Windows: a message box in every active session, WTSSendMessage; sim: the
// messages are recorded and the answers scripted). It holds no policy.
type Notifier interface {
	// LoggedOn reports whether a user is logged on interactively.
	LoggedOn(ctx context.Context) (bool, error)
	// Notify shows title and text to the logged-on users. With mayDecline the message
	// asks a question (Yes / No) and Notify waits at most timeout for an answer:
	// declined is true when a user answered No. Without mayDecline it does not wait.
	// answered is false when nobody answered in time.
	Notify(ctx context.Context, title, text string, timeout time.Duration, mayDecline bool) (answered, declined bool, err error)
}

// Rebooter restarts the host (Windows: InitiateSystemShutdownEx; sim: the host's
// pending restart is done).
type Rebooter interface {
	Restart(ctx context.Context, reason string) error
}

// WithNotifier sets how logged-on users are told about reboots and the install at
// shutdown (default: nobody is logged on, nothing is shown).
func WithNotifier(n Notifier) Option { return func(a *Agent) { a.notifier = n } }

// WithRebooter sets how the host restarts when the reboot policy says so (default: the
// host is never restarted; the reboot stays reported as needed).
func WithRebooter(r Rebooter) Option { return func(a *Agent) { a.rebooter = r } }

// Timeouts of the questions asked to the logged-on user.
const (
	// AskTimeout is how long a reboot question waits for an answer; no answer counts as
	// a postponement (the user is away: the question comes again, up to max_postpone).
	AskTimeout = 5 * time.Minute
	// ShutdownAskTimeout is how long the "skip this time" question at shutdown waits;
	// no answer installs.
	ShutdownAskTimeout = 60 * time.Second
)

// Kinds of ScheduleEvent.
const (
	EventInstall        = "install"          // the scheduled install installs (Text: why)
	EventHeld           = "held"             // the scheduled install held updates (Text: why)
	EventRebootNeeded   = "reboot-needed"    // a reboot is needed and the policy does not restart now
	EventRebootAsk      = "reboot-ask"       // the logged-on user was asked
	EventRebootPostpone = "reboot-postponed" // the user postponed (or did not answer)
	EventRebootAccepted = "reboot-accepted"  // the user accepted
	EventCountdown      = "reboot-countdown" // a forced reboot was announced
	EventRestart        = "restart"          // the host was restarted
	EventRestartFailed  = "restart-failed"
	EventShutdown       = "shutdown-install" // updates installed at shutdown
	EventShutdownSkip   = "shutdown-skipped" // the user skipped the install at shutdown
)

// MaxScheduleEvents bounds State.Events.
const MaxScheduleEvents = 200

// ScheduleEvent is one decision the maintenance schedule took and the agent acted on.
type ScheduleEvent struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text,omitempty"`
}

// RebootState is what the agent keeps about a required reboot.
type RebootState struct {
	// Since is when the agent first saw the reboot required.
	Since time.Time `json:"since,omitzero"`
	// Postponed counts the user's postponements since; LastPostpone is the last one.
	Postponed    int       `json:"postponed,omitempty"`
	LastPostpone time.Time `json:"last_postpone,omitzero"`
	// At is when an announced forced restart happens (the countdown ends).
	At time.Time `json:"at,omitzero"`
	// Awaiting are the updates whose install asked for the reboot (their deadlines
	// drive reboot = deadline).
	Awaiting []schedule.Update `json:"awaiting,omitempty"`
}

// event records a decision in the state (and the log).
func (a *Agent) event(st *State, kind, text string) {
	a.log.Info("schedule", slog.String("event", kind), slog.String("text", text))
	st.Events = append(st.Events, ScheduleEvent{At: a.clock.Now(), Kind: kind, Text: text})
	st.EventSeq++
	if n := len(st.Events) - MaxScheduleEvents; n > 0 {
		st.Events = append([]ScheduleEvent(nil), st.Events[n:]...)
	}
}

// loggedOn asks the notifier whether a user is logged on (false without one).
func (a *Agent) loggedOn(ctx context.Context) bool {
	if a.notifier == nil {
		return false
	}
	on, err := a.notifier.LoggedOn(ctx)
	if err != nil {
		a.log.Warn("logged-on users", slog.Any("err", err))
		return false
	}
	return on
}

// notify shows a message; a failure is logged, never fatal.
func (a *Agent) notify(ctx context.Context, title, text string, timeout time.Duration, mayDecline bool) (answered, declined bool) {
	if a.notifier == nil {
		return false, false
	}
	answered, declined, err := a.notifier.Notify(ctx, title, text, timeout, mayDecline)
	if err != nil {
		a.log.Warn("notify the logged-on users", slog.String("title", title), slog.Any("err", err))
		return false, false
	}
	return answered, declined
}

// reboot applies the reboot policy of the merged rules after the service's install
// job: never reports the reboot as needed; in_window, deadline and forced ask
// outcomes announce a countdown (Notifier) and restart when it ends (Rebooter), never
// inside active_hours; ask asks the logged-on user, who may postpone up to
// max_postpone times. Each decision is an event of the state.
func (a *Agent) reboot(ctx context.Context, c *cycle) {
	st := c.st
	now := a.clock.Now()
	if !st.RebootRequired {
		if !st.Reboot.Since.IsZero() || !st.Reboot.At.IsZero() {
			st.Reboot = RebootState{}
		}
		return
	}
	r := &st.Reboot
	if r.Since.IsZero() {
		r.Since = now
	}
	if !r.At.IsZero() {
		if now.Before(r.At) {
			return // the countdown runs; the job wakes at r.At (ScheduleNext)
		}
		a.restart(ctx, st, "the announced countdown ended")
		return
	}
	pol, ok := a.schedulePolicy(c)
	if !ok {
		return
	}
	c.userOn = a.loggedOn(ctx)
	d := schedule.Plan(pol, a.scheduleState(c, nil))
	switch d.Reboot.Kind {
	case schedule.RebootAsk:
		a.event(st, EventRebootAsk, d.Reboot.Why)
		text := fmt.Sprintf("Updates were installed and this computer must restart.\n\nRestart now? Answer No to postpone for %s (%d postponements left).",
			pol.PostponeFor, pol.MaxPostpone-r.Postponed)
		answered, declined := a.notify(ctx, "Restart required", text, AskTimeout, true)
		if answered && !declined {
			a.event(st, EventRebootAccepted, "the user accepted the restart")
			a.restart(ctx, st, "the logged-on user accepted")
			return
		}
		r.Postponed++
		r.LastPostpone = now
		why := "the user postponed the restart"
		if !answered {
			why = "the user did not answer: counted as a postponement"
		}
		a.event(st, EventRebootPostpone, fmt.Sprintf("%s (%d of %d)", why, r.Postponed, pol.MaxPostpone))
	case schedule.RebootForced:
		if a.rebooter == nil {
			a.event(st, EventRebootNeeded, d.Reboot.Why+" (this agent cannot restart the host: restart it yourself)")
			return
		}
		r.At = d.Reboot.At
		a.event(st, EventCountdown, d.Reboot.Why)
		text := fmt.Sprintf("Updates were installed and this computer will restart at %s (in %s). Save your work.",
			d.Reboot.At.In(now.Location()).Format("15:04"), d.Reboot.Countdown)
		a.notify(ctx, "Restart scheduled", text, 0, false)
		if !now.Before(r.At) {
			a.restart(ctx, st, d.Reboot.Why)
		}
	default:
		if last := lastEvent(st); last == nil || last.Kind != EventRebootNeeded || last.Text != d.Reboot.Why {
			a.event(st, EventRebootNeeded, d.Reboot.Why)
		}
	}
}

func lastEvent(st *State) *ScheduleEvent {
	if len(st.Events) == 0 {
		return nil
	}
	return &st.Events[len(st.Events)-1]
}

// restart restarts the host through the Rebooter.
func (a *Agent) restart(ctx context.Context, st *State, why string) {
	if a.rebooter == nil {
		a.event(st, EventRebootNeeded, why+": this agent cannot restart the host (restart it yourself)")
		st.Reboot.At = time.Time{}
		return
	}
	if err := a.rebooter.Restart(ctx, "waptwua: updates installed; "+why); err != nil {
		a.event(st, EventRestartFailed, err.Error())
		st.Reboot.At = time.Time{}
		return
	}
	a.event(st, EventRestart, why)
	st.Reboot = RebootState{}
	if rp, err := a.wua.RebootPending(ctx); err == nil {
		st.RebootRequired = rp
	}
}

// scheduleState is what the scheduler needs to know of the host, with pending the
// updates waiting for install.
func (a *Agent) scheduleState(c *cycle, pending []schedule.Update) schedule.State {
	st := c.st
	now := a.clock.Now()
	return schedule.State{Now: now, Location: now.Location(), Pending: pending, Off: st.Off,
		LastInstall: st.LastInstall, RebootRequired: st.RebootRequired, RebootSince: st.Reboot.Since,
		AwaitingReboot: st.Reboot.Awaiting, UserLoggedOn: c.userOn, Postponed: st.Reboot.Postponed,
		LastPostpone: st.Reboot.LastPostpone}
}

// schedulePolicy compiles the maintenance policy of the cycle's merged rules, once per
// cycle. Valid, it is kept in the state as the last valid policy. Refused (the merge
// made it invalid: schedule.Compile names the key), the refusal is a problem of the
// cycle and the last valid policy stays in force; ok is false only when there is none.
func (a *Agent) schedulePolicy(c *cycle) (pol schedule.Policy, ok bool) {
	if c.pol != nil {
		return *c.pol, true
	}
	if c.polDone {
		return schedule.Policy{}, false
	}
	c.polDone = true
	p, err := schedule.Compile(c.rules, a.cfg.WUA.InstallDelay)
	if err == nil {
		keys := policyKeys(c.rules)
		c.st.GoodPolicy = &keys
		c.pol = &p
		return p, true
	}
	if c.st.GoodPolicy != nil {
		if prev, perr := schedule.Compile(*c.st.GoodPolicy, a.cfg.WUA.InstallDelay); perr == nil {
			c.polErr = fmt.Errorf("maintenance policy refused, the previous valid one stays in force: %w", err)
			c.failWith(StatusError, c.polErr)
			c.pol = &prev
			return prev, true
		}
	}
	c.polErr = fmt.Errorf("maintenance policy refused, nothing installs on schedule until it is fixed: %w", err)
	c.failWith(StatusError, c.polErr)
	return schedule.Policy{}, false
}

// policyKeys are the schedule keys of merged rules (the last valid policy).
func policyKeys(r rules.Rules) rules.Rules {
	return rules.Rules{
		MaintenanceWindows: r.MaintenanceWindows, PauseUntil: r.PauseUntil, PauseDays: r.PauseDays,
		InstallDelayDays: r.InstallDelayDays, DeadlineDays: r.DeadlineDays, GraceDays: r.GraceDays,
		Reboot: r.Reboot, MaxPostpone: r.MaxPostpone, ActiveHours: r.ActiveHours,
		CatchUpMissedWindows: r.CatchUpMissedWindows, InstallAtShutdown: r.InstallAtShutdown,
		WaptexitDisableSkipWindowsUpdates: r.WaptexitDisableSkipWindowsUpdates,
	}
}

package action

import (
	"context"
	"sync"
	"time"
)

// Sim is a Runner that runs nothing: it records each command and answers with Answer
// (nil: exit code 0). The simulated host (internal/wua/sim) drives it from its profile.
type Sim struct {
	Answer func(Command) (Exit, error)

	mu    sync.Mutex
	calls []Command
}

// Run implements Runner.
func (s *Sim) Run(ctx context.Context, c Command, timeout time.Duration) (Exit, error) {
	if err := ctx.Err(); err != nil {
		return Exit{}, err
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if s.Answer == nil {
		return Exit{}, nil
	}
	return s.Answer(c)
}

// Calls returns the commands run so far.
func (s *Sim) Calls() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.calls...)
}

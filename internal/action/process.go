package action

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// DefaultMaxOutput is how much of a process's output Process keeps.
const DefaultMaxOutput = 64 << 10

// Process runs commands as real processes: the agent's account (SYSTEM for the service),
// no window, output captured up to MaxOutput bytes, killed at the timeout with the
// processes it started (a job object on Windows, a process group on Unix). The code is
// the same on every system; only the command lines of CommandFor are Windows ones.
type Process struct {
	MaxOutput int // 0: DefaultMaxOutput
	// WaitDelay bounds the wait for the output pipes after the process ended or was
	// killed (a child it started may hold them); 0: 10 s.
	WaitDelay time.Duration
}

// Run implements Runner.
func (p Process) Run(ctx context.Context, c Command, timeout time.Duration) (Exit, error) {
	if timeout <= 0 {
		return Exit{}, errors.New("run: no timeout")
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, c.Path, c.Args...)
	cmd.Dir = c.Dir
	var tree procTree
	tree.prepare(cmd)
	cmd.Cancel = func() error { return tree.kill(cmd.Process) }
	defer tree.release()
	max := p.MaxOutput
	if max <= 0 {
		max = DefaultMaxOutput
	}
	out := &boundedBuffer{max: max}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = p.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 10 * time.Second
	}
	err := cmd.Start()
	if err == nil {
		if aerr := tree.attach(cmd.Process); aerr != nil {
			// The run goes on; a timeout then kills the process alone.
			fmt.Fprintf(out, "[waptwua: the process tree cannot be tracked: %v]\n", aerr)
		}
		err = cmd.Wait()
	}
	ex := Exit{Output: out.String()}
	if ctx.Err() != nil { // the agent is stopping: not the action's timeout
		return ex, fmt.Errorf("run %s: %w", c.Path, ctx.Err())
	}
	if tctx.Err() == context.DeadlineExceeded {
		ex.TimedOut = true
		return ex, nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return ex, nil
	case errors.As(err, &ee) && ee.Exited():
		ex.Code = uint32(ee.ExitCode()) // Windows codes are DWORDs: 0x80240017 stays itself on 386 too
		return ex, nil
	}
	return ex, fmt.Errorf("run %s: %w", c.Path, err)
}

// boundedBuffer keeps the first max bytes written and counts the rest.
type boundedBuffer struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		b.buf = append(b.buf, p[:room]...)
	}
	b.dropped += int64(len(p) - room)
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		return fmt.Sprintf("%s\n[%d more bytes of output not kept]", b.buf, b.dropped)
	}
	return string(b.buf)
}
